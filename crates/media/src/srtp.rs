//! SRTP (RFC 3711) keyed by SDES (RFC 4568 `a=crypto:`), for the legs of seats that reach us over TLS:
//! the key travels in the SDP, which only TLS keeps secret.
//!
//! The ciphers are `rtc-srtp` (webrtc-rs' sans-IO SRTP, on ring): pure Rust and maintained, so neither CI
//! nor a deployment needs libsrtp2 or OpenSSL; `webrtc-srtp` drags in tokio and webrtc-util, and the
//! `srtp` crate binds libsrtp2 through a C build. This module only keys them and names the suites; it
//! does no I/O.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::BytesMut;
use rtc_srtp::context::Context;
use rtc_srtp::crypto::providers::RingCrypto;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Master key and salt lengths of the AES_CM_128 suites (RFC 4568 §6.2.1).
pub const KEY_LEN: usize = 16;
pub const SALT_LEN: usize = 14;
/// The 80-bit tag that grows every protected RTP packet of the default suite.
pub const TAG_LEN: usize = 10;
/// Replay windows (RFC 3711 §3.3.2 asks for at least 64 packets).
const REPLAY_WINDOW: usize = 128;

/// The crypto suites we answer, best first (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl Suite {
    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    fn from_name(s: &str) -> Option<Suite> {
        [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32]
            .into_iter()
            .find(|x| x.name().eq_ignore_ascii_case(s))
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Suite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Suite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

/// One side's master key and salt for a suite.
#[derive(Clone, PartialEq, Eq)]
pub struct SdesKey {
    pub suite: Suite,
    /// Key then salt, as in the `inline:` parameter.
    material: [u8; KEY_LEN + SALT_LEN],
}

impl std::fmt::Debug for SdesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never in logs.
        f.debug_struct("SdesKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SdesKey {
    /// A fresh key from the OS's random source (through `rand`'s thread RNG, a CSPRNG).
    pub fn random(suite: Suite) -> SdesKey {
        SdesKey {
            suite,
            material: rand::random(),
        }
    }

    pub fn from_material(suite: Suite, material: [u8; KEY_LEN + SALT_LEN]) -> SdesKey {
        SdesKey { suite, material }
    }

    pub fn material(&self) -> [u8; KEY_LEN + SALT_LEN] {
        self.material
    }

    pub fn key(&self) -> &[u8] {
        &self.material[..KEY_LEN]
    }

    pub fn salt(&self) -> &[u8] {
        &self.material[KEY_LEN..]
    }

    /// The `a=crypto:` value for this key under `tag` (no lifetime or MKI: RFC 4568 §6.1 makes both optional).
    pub fn attribute(&self, tag: u32) -> String {
        format!(
            "{tag} {} inline:{}",
            self.suite.name(),
            STANDARD.encode(self.material)
        )
    }
}

/// One `a=crypto:` line of an SDP: its tag and the key it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttr {
    pub tag: u32,
    pub key: SdesKey,
}

/// Parse the value of an `a=crypto:` attribute (`1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|lifetime][|MKI:len]
/// [session params]`). None for a suite we do not speak, several keys, an MKI (we could not pick the key per
/// packet), session parameters (UNENCRYPTED_SRTP and the like change the transform) or a malformed key.
pub fn parse_attribute(value: &str) -> Option<CryptoAttr> {
    let mut it = value.split_ascii_whitespace();
    let tag: u32 = it.next()?.parse().ok().filter(|t| *t < 1_000_000_000)?;
    let suite = Suite::from_name(it.next()?)?;
    let keys = it.next()?;
    if it.next().is_some() || keys.contains(';') {
        return None;
    }
    let inline = keys.strip_prefix("inline:")?;
    let mut parts = inline.split('|');
    let b64 = parts.next()?;
    for p in parts {
        // A lifetime (`2^31` or a number) is fine: we re-key per call long before it. An MKI is not.
        if p.contains(':') {
            return None;
        }
    }
    let raw = STANDARD.decode(b64).ok()?;
    let material: [u8; KEY_LEN + SALT_LEN] = raw.try_into().ok()?;
    Some(CryptoAttr {
        tag,
        key: SdesKey { suite, material },
    })
}

/// The first attribute we can use, in the offerer's order of preference (RFC 4568 §7.1.1).
pub fn choose(values: &[String]) -> Option<CryptoAttr> {
    values.iter().find_map(|v| parse_attribute(v))
}

/// Why a packet was not (un)protected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SRTP: {0}")]
pub struct SrtpError(String);

/// The two SRTP contexts of one leg: ours protects what we send, the peer's unprotects what it sends
/// (SDES keys each direction with its sender's key, RFC 4568 §6.1).
pub struct SrtpSession {
    tx: Context,
    rx: Context,
    tag_len: usize,
}

impl SrtpSession {
    pub fn new(local: &SdesKey, remote: &SdesKey) -> Result<SrtpSession, SrtpError> {
        let ctx = |k: &SdesKey, replay: bool| {
            let (rtp, rtcp) = if replay {
                (
                    Some(srtp_replay_protection(REPLAY_WINDOW)),
                    Some(srtcp_replay_protection(REPLAY_WINDOW)),
                )
            } else {
                (None, None)
            };
            Context::new(k.key(), k.salt(), k.suite.profile(), rtp, rtcp, &RingCrypto)
                .map_err(|e| SrtpError(e.to_string()))
        };
        Ok(SrtpSession {
            tx: ctx(local, false)?,
            rx: ctx(remote, true)?,
            tag_len: local.suite.profile().rtp_auth_tag_len(),
        })
    }

    /// How many bytes [`SrtpSession::protect_rtp`] adds.
    pub fn overhead(&self) -> usize {
        self.tag_len
    }

    pub fn protect_rtp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        self.tx
            .encrypt_rtp(packet)
            .map_err(|e| SrtpError(e.to_string()))
    }

    /// Authenticates and decrypts; a forged, damaged or replayed packet is an error (and is dropped).
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        self.rx
            .decrypt_rtp(packet)
            .map_err(|e| SrtpError(e.to_string()))
    }

    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        self.tx
            .encrypt_rtcp(packet)
            .map_err(|e| SrtpError(e.to_string()))
    }

    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<BytesMut, SrtpError> {
        self.rx
            .decrypt_rtcp(packet)
            .map_err(|e| SrtpError(e.to_string()))
    }
}

impl std::fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpSession").finish_non_exhaustive()
    }
}

/// A media leg's SRTP as the engine keeps it: off (plain RTP, one atomic load per packet) or keyed. The
/// receive task unprotects, the pacing threads and the relay protect: a short mutex, never held across I/O.
#[derive(Default)]
pub(crate) struct LegSrtp {
    on: AtomicBool,
    keyed: Mutex<Option<Keyed>>,
    /// Packets dropped because they did not authenticate (or could not be protected).
    pub failures: AtomicU64,
}

struct Keyed {
    local: SdesKey,
    remote: SdesKey,
    session: SrtpSession,
}

impl LegSrtp {
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Key the leg (ours, the peer's), or switch SRTP off with None. The same keys again (a re-INVITE
    /// that kept them) keep the running contexts, so rollover counters and replay windows go on.
    pub fn set(&self, keys: Option<(&SdesKey, &SdesKey)>) -> Result<(), SrtpError> {
        let mut g = self.keyed.lock().unwrap_or_else(|e| e.into_inner());
        match keys {
            None => {
                *g = None;
                self.on.store(false, Ordering::Relaxed);
            }
            Some((l, r)) => {
                if g.as_ref().is_some_and(|k| &k.local == l && &k.remote == r) {
                    return Ok(());
                }
                *g = Some(Keyed {
                    local: l.clone(),
                    remote: r.clone(),
                    session: SrtpSession::new(l, r)?,
                });
                self.on.store(true, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&mut SrtpSession) -> Result<T, SrtpError>) -> Option<T> {
        let mut g = self.keyed.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut g.as_mut()?.session);
        if r.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        r.ok()
    }

    /// The protected form of one RTP (or RTCP) packet we send.
    pub fn protect(&self, packet: &[u8]) -> Option<BytesMut> {
        self.with(|s| {
            if crate::rtp::is_rtcp(packet) {
                s.protect_rtcp(packet)
            } else {
                s.protect_rtp(packet)
            }
        })
    }

    /// Protect `buf[..len]` where it lies (a relayed packet in the receive batch); the new length, or None
    /// when it does not fit `buf` or fails.
    pub fn protect_in_place(&self, buf: &mut [u8], len: usize) -> Option<usize> {
        let sealed = self.protect(buf.get(..len)?)?;
        buf.get_mut(..sealed.len())?.copy_from_slice(&sealed);
        Some(sealed.len())
    }

    /// Authenticate and decrypt `buf[..len]` in place (SRTP or SRTCP): the plaintext's length, or None to drop
    /// the packet (forged, damaged, replayed, or plain RTP from a peer that agreed to SRTP).
    pub fn unprotect_in_place(&self, buf: &mut [u8], len: usize) -> Option<usize> {
        let packet = buf.get(..len)?;
        let rtcp = crate::rtp::is_rtcp(packet);
        let plain = self.with(|s| {
            if rtcp {
                s.unprotect_rtcp(packet)
            } else {
                s.unprotect_rtp(packet)
            }
        })?;
        buf.get_mut(..plain.len())?.copy_from_slice(&plain);
        Some(plain.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x80,
            0,
            (seq >> 8) as u8,
            seq as u8,
            0,
            0,
            0,
            160,
            1,
            2,
            3,
            4,
        ];
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn attribute_round_trip_and_refusals() {
        let k = SdesKey::random(Suite::AesCm128HmacSha1_80);
        let a = parse_attribute(&k.attribute(7)).unwrap();
        assert_eq!(a.tag, 7);
        assert_eq!(a.key, k);
        let inline = STANDARD.encode(k.material);
        assert!(
            parse_attribute(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{inline}|2^20")).is_some()
        );
        assert_eq!(
            parse_attribute(&format!("2 AES_CM_128_HMAC_SHA1_32 inline:{inline}"))
                .unwrap()
                .key
                .suite,
            Suite::AesCm128HmacSha1_32
        );
        for bad in [
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{inline}|2^20|1:4"),
            format!("1 AES_256_CM_HMAC_SHA1_80 inline:{inline}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{inline} UNENCRYPTED_SRTP"),
            "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_string(),
            "x AES_CM_128_HMAC_SHA1_80 inline:".to_string(),
            "1 AES_CM_128_HMAC_SHA1_80 key:abc".to_string(),
        ] {
            assert!(parse_attribute(&bad).is_none(), "{bad}");
        }
        let choices = vec![
            format!("1 AES_256_CM_HMAC_SHA1_80 inline:{inline}"),
            k.attribute(2),
        ];
        assert_eq!(choose(&choices).unwrap().tag, 2);
    }

    #[test]
    fn protects_for_the_peer_and_refuses_forgeries_and_replays() {
        let ours = SdesKey::random(Suite::AesCm128HmacSha1_80);
        let theirs = SdesKey::random(Suite::AesCm128HmacSha1_80);
        let mut a = SrtpSession::new(&ours, &theirs).unwrap();
        let mut b = SrtpSession::new(&theirs, &ours).unwrap();
        let plain = rtp(1, &[0xd5; 160]);
        let sealed = a.protect_rtp(&plain).unwrap();
        assert_eq!(sealed.len(), plain.len() + TAG_LEN);
        assert_eq!(&sealed[..12], &plain[..12], "the header stays in clear");
        assert_ne!(&sealed[12..172], &plain[12..], "the payload does not");
        assert_eq!(&b.unprotect_rtp(&sealed).unwrap()[..], &plain[..]);
        assert!(b.unprotect_rtp(&sealed).is_err(), "a replay is refused");
        let mut forged = a.protect_rtp(&rtp(2, &[0xd5; 160])).unwrap();
        forged[20] ^= 1;
        assert!(
            b.unprotect_rtp(&forged).is_err(),
            "a changed payload is refused"
        );
        // The wrong key: our own packets do not authenticate as the peer's.
        let mut c = SrtpSession::new(&ours, &ours).unwrap();
        let other = a.protect_rtp(&rtp(3, &[1; 160])).unwrap();
        assert!(b.unprotect_rtp(&other).is_ok());
        assert!(SrtpSession::new(&theirs, &theirs)
            .unwrap()
            .unprotect_rtp(&other)
            .is_err());
        // SRTCP both ways (a receiver report with no blocks).
        let rr = [0x80, 201, 0, 1, 9, 9, 9, 9];
        let sealed = c.protect_rtcp(&rr).unwrap();
        assert_eq!(&c.unprotect_rtcp(&sealed).unwrap()[..], &rr[..]);
    }
}
