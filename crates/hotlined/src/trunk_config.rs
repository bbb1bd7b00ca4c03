//! `[trunks]`: who may call in, where calls out go, and the checks beyond its types: the gateway pool
//! as `sip::gateway` accepts it, each target host served one way only, our asserted identity a SIP URI.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::net::SocketAddr;

/// Which source addresses may send calls in (carrier trunks). Others get 403.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// CIDR blocks or single addresses, e.g. ["127.0.0.1/32", "10.20.0.0/16"].
    pub allow: Vec<String>,
    /// Where to send calls for dial-plan targets by host (`sip:110@emergency-trunk` → that SBC), so plans
    /// name lines, not addresses. A target whose host is an IP address needs no entry.
    #[serde(default)]
    pub gateways: std::collections::BTreeMap<String, SocketAddr>,
    /// `[[trunks.gateway]]`: named gateways probed with OPTIONS, several per target host (each lists the
    /// hosts it carries in `targets`), tried by priority with failover on timeout, 408, 5xx and 503, each
    /// with a channel limit (`sip::gateway`). A target host served here must not be in `gateways` too.
    #[serde(default)]
    pub gateway: Vec<sip::gateway::GatewayConfig>,
    /// Our identity on calls out through a trunk, sent as P-Asserted-Identity (RFC 3325 §9.1), e.g.
    /// `sip:12345@center.example`; none sends no P-Asserted-Identity.
    #[serde(default)]
    pub asserted_identity: Option<String>,
}

impl TrunkConfig {
    pub fn validate(&self) -> Result<()> {
        sip::gateway::Gateways::new(self.gateway.clone(), 0).context("[[trunks.gateway]]")?;
        for g in &self.gateway {
            if let Some(t) = g.targets.iter().find(|t| self.gateways.contains_key(*t)) {
                bail!(
                    "target {t:?} is both in trunks.gateways and served by [[trunks.gateway]] {:?}",
                    g.name
                );
            }
        }
        if let Some(id) = &self.asserted_identity {
            sip::Uri::parse(id)
                .map_err(|_| anyhow!("trunks.asserted_identity {id:?} is not a SIP URI"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::TrunkConfig;

    fn trunks(extra: &str) -> anyhow::Result<()> {
        let text = format!("allow = []\n{extra}");
        let cfg: TrunkConfig = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .build()?
            .try_deserialize()?;
        cfg.validate()
    }

    #[test]
    fn a_pool_is_checked_and_a_target_is_served_one_way_only() {
        let gw =
            "[[gateway]]\nname = \"a\"\naddress = \"10.0.0.1:5060\"\ntargets = [\"emergency\"]\n";
        assert!(trunks(gw).is_ok());
        assert!(trunks(&format!("{gw}{gw}")).is_err(), "the same name twice");
        assert!(
            trunks(&format!("{gw}qualify = true\n")).is_err(),
            "unknown key"
        );
        let both = format!("gateways = {{ emergency = \"10.0.0.2:5060\" }}\n{gw}");
        assert!(trunks(&both).is_err());
        assert!(trunks("asserted_identity = \"not a uri\"").is_err());
        assert!(trunks("asserted_identity = \"sip:12345@center.example\"").is_ok());
    }
}
