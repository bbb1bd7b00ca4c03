//! TLS for the daemon: the certificate and key from PEM files (one loader for the admin port's HTTPS and
//! SIP over TLS), and what a leg on TLS changes: our Contact names the TLS port, and its media is SRTP keyed
//! by SDES (`media::srtp`), since only TLS keeps the `a=crypto` keys in the SDP secret.

use anyhow::{bail, Context, Result};
use media::sdp::SdpSession;
use media::srtp::{SdesKey, Suite};
use media::MediaLeg;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sip::endpoint::TransportKind;
use std::path::Path;
use std::sync::Arc;
use tracing::{info, warn};

use crate::env::CallEnv;

/// Read the PEM files into a rustls server config (ring provider, TLS 1.2 and 1.3). `keys` names the two
/// config keys for the errors (`("sip.tls_cert", "sip.tls_key")`).
pub fn server_config(cert: &Path, key: &Path, keys: (&str, &str)) -> Result<rustls::ServerConfig> {
    let (cert_key, key_key) = keys;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("{cert_key} {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{cert_key} {}: not PEM certificates", cert.display()))?;
    if certs.is_empty() {
        bail!("{cert_key} {}: no certificate in it", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{key_key} {}: no PEM private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| format!("{cert_key} and {key_key} do not make a usable pair"))
}

/// Our Contact for a leg on `transport`: on TLS the TLS port, as `sips:` when the peer's URI is `sips:`
/// (RFC 5630 §3.1.2), else `sip:…;transport=tls` (what softphones register with).
pub fn contact(env: &CallEnv, transport: TransportKind, sips: bool) -> String {
    let Some(tls) = env
        .endpoint
        .tls_addr()
        .filter(|_| transport == TransportKind::Tls)
    else {
        return env.contact();
    };
    let host = env
        .contact_host
        .rsplit_once(':')
        .map_or(env.contact_host.as_str(), |(h, _)| h);
    match sips {
        true => format!("<sips:12345@{host}:{}>", tls.port()),
        false => format!("<sip:12345@{host}:{};transport=tls>", tls.port()),
    }
}

/// The SDP bookkeeping of a new leg on `transport`: on TLS it offers and answers SRTP with a fresh key.
pub fn sdp_session(transport: TransportKind) -> SdpSession {
    let mut s = SdpSession::new(rand::random::<u32>() as u64);
    if transport == TransportKind::Tls {
        s.use_srtp(SdesKey::random(Suite::AesCm128HmacSha1_80));
    }
    s
}

/// The transport a request says it came on (its top Via), for the places that see only the message.
pub fn via_transport(msg: &sip::SipMessage) -> TransportKind {
    msg.vias()
        .first()
        .and_then(|v| TransportKind::from_token(&v.transport))
        .unwrap_or(TransportKind::Udp)
}

/// After an offer/answer: key the leg's SRTP with what was agreed (or leave it plain).
pub fn key_media(media: &MediaLeg, sdp: &SdpSession) {
    let keys = sdp.srtp_keys();
    match media.set_srtp(keys) {
        Ok(()) if keys.is_some() => {
            info!(port = media.local_addr().port(), "leg media is SRTP (SDES)")
        }
        Ok(()) => {}
        Err(e) => warn!(error = %e, "SRTP keys refused: the leg's media is dropped"),
    }
}
