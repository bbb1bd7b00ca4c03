//! The checks on `[sip]`'s TLS keys and the seats marked `tls_only` (docs/tls.md), apart from `config.rs`
//! (which calls them with its values, so this module needs nothing of it).

use anyhow::{bail, Result};
use std::net::SocketAddr;
use std::path::PathBuf;

pub(crate) fn validate<'a>(
    listen_tls: Option<SocketAddr>,
    cert: &Option<PathBuf>,
    key: &Option<PathBuf>,
    mut seats: impl Iterator<Item = (&'a str, bool)>,
) -> Result<()> {
    if listen_tls.is_some() != cert.is_some() || cert.is_some() != key.is_some() {
        bail!("sip.listen_tls, sip.tls_cert and sip.tls_key: set all three or none");
    }
    if let Some((seat, _)) = seats.find(|(_, only)| *only && listen_tls.is_none()) {
        bail!("seat {seat} is tls_only but sip.listen_tls is not set: it could never register");
    }
    Ok(())
}
