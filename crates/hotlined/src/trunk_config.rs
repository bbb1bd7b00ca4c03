//! Checks of `[trunks]` beyond its types: the gateway pool as `sip::gateway` accepts it, each target
//! host served one way only, our asserted identity a SIP URI.

use crate::config::TrunkConfig;
use anyhow::{anyhow, bail, Context, Result};

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
    use crate::config::TrunkConfig;

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
