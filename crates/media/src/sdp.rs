//! SDP offer/answer (RFC 4566 / RFC 3264) for G.711 audio with telephone-event.
//!
//! Our own small parser rather than `sdp-types`: we only need c=/m=/rtpmap/ptime/direction, and a
//! tolerant line scanner accepts the sloppy SDPs phones send (LF-only line ends, unknown lines,
//! attributes we never heard of) while still refusing what we cannot answer with 400/488.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::srtp::{self, SdesKey};

/// Audio codecs we speak: G.711 only, static payload types 0 and 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    /// The static RTP payload type (RFC 3551).
    pub fn static_pt(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    fn from_name(name: &str) -> Option<Codec> {
        if name.eq_ignore_ascii_case("PCMU") {
            Some(Codec::Pcmu)
        } else if name.eq_ignore_ascii_case("PCMA") {
            Some(Codec::Pcma)
        } else {
            None
        }
    }
}

/// Media direction, always from OUR point of view in [`Negotiated`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The direction the other side of an offer/answer gets (sendonly ⇄ recvonly).
    pub fn mirror(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_attr(a: &str) -> Option<Direction> {
        match a {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// The outcome of a negotiation: where to send, with what, and which way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// c= address + m= port of the peer. An unspecified address (`0.0.0.0`, legacy hold) means
    /// "do not send until the peer's packets tell us where" (symmetric RTP).
    pub remote: SocketAddr,
    pub codec: Codec,
    /// Payload type the peer uses for `codec` (0/8, or the dynamic one it mapped to PCMU/PCMA).
    pub pt: u8,
    /// telephone-event payload type, when both sides have it.
    pub dtmf_pt: Option<u8>,
    /// The peer's preferred packet time (we always send 20 ms G.711 frames).
    pub ptime_ms: u32,
    /// Our direction.
    pub direction: Direction,
    /// RTCP goes on the RTP port (RFC 5761): the offer had `a=rtcp-mux`, and so has our answer.
    pub rtcp_mux: bool,
    /// The peer's RTCP address from `a=rtcp:` (RFC 3605); `None`: the RTP port + 1.
    pub rtcp: Option<SocketAddr>,
}

impl Negotiated {
    /// Where the peer wants its RTCP: the RTP address when multiplexed, else `a=rtcp:` or the
    /// RTP port + 1 (RFC 3550 §11). `None` while the peer's address is not known.
    pub fn rtcp_addr(&self) -> Option<SocketAddr> {
        if self.rtcp_mux {
            return Some(self.remote);
        }
        if let Some(a) = self.rtcp {
            return Some(a);
        }
        let port = self.remote.port().checked_add(1)?;
        (self.remote.port() != 0).then(|| SocketAddr::new(self.remote.ip(), port))
    }
}

/// Why an SDP could not be negotiated; `status` is the SIP response code to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {reason}")]
pub struct SdpError {
    /// 488 (Not Acceptable Here) or 400 (Bad Request).
    pub status: u16,
    pub reason: String,
}

impl SdpError {
    fn bad(reason: impl Into<String>) -> SdpError {
        SdpError {
            status: 400,
            reason: reason.into(),
        }
    }
    fn not_acceptable(reason: impl Into<String>) -> SdpError {
        SdpError {
            status: 488,
            reason: reason.into(),
        }
    }
}

/// o= line bookkeeping for one call leg: the session id stays, the version goes up with every SDP
/// we emit (RFC 3264 §8: a changed description must carry a higher version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpSession {
    id: u64,
    version: u64,
    /// SDES-keyed SRTP (RFC 4568) on this leg: our key, and the peer's once an offer or answer gave it.
    srtp: Option<SrtpKeys>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SrtpKeys {
    local: SdesKey,
    remote: Option<SdesKey>,
}

impl SdpSession {
    /// `id` should be unique per leg (e.g. random); time is not read here.
    pub fn new(id: u64) -> SdpSession {
        SdpSession {
            id,
            version: 0,
            srtp: None,
        }
    }

    /// This leg speaks SRTP (a leg of a seat on TLS): our offers are RTP/SAVP with `key` in `a=crypto`, and
    /// offers with a usable `a=crypto` are answered with it. Without it SAVP offers get 488 as before.
    pub fn use_srtp(&mut self, key: SdesKey) {
        self.srtp = Some(SrtpKeys {
            local: key,
            remote: None,
        });
    }

    /// (ours, the peer's) once both are known: what the media leg protects and unprotects with.
    pub fn srtp_keys(&self) -> Option<(&SdesKey, &SdesKey)> {
        let k = self.srtp.as_ref()?;
        Some((&k.local, k.remote.as_ref()?))
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }
}

/// telephone-event events 0-15 are the DTMF digits; 16 is flash.
const DTMF_FMTP: &str = "0-16";
/// Our packet time: 20 ms G.711 frames.
pub const PTIME_MS: u32 = 20;

#[derive(Debug, Clone)]
struct RtpMap {
    pt: u8,
    name: String,
    clock: u32,
}

#[derive(Debug, Clone)]
struct Media {
    kind: String,
    port: u16,
    proto: String,
    /// The format list exactly as offered (payload types for RTP profiles).
    formats: Vec<String>,
    conn: Option<IpAddr>,
    rtpmaps: Vec<RtpMap>,
    ptime: Option<u32>,
    direction: Option<Direction>,
    rtcp_mux: bool,
    /// `a=rtcp:port [IN IP4 addr]` (RFC 3605 §2.1): the port, and the address when given.
    rtcp: Option<(u16, Option<IpAddr>)>,
    /// `a=crypto:` values (RFC 4568), in the offerer's order.
    crypto: Vec<String>,
}

#[derive(Debug, Clone)]
struct Parsed {
    conn: Option<IpAddr>,
    direction: Option<Direction>,
    media: Vec<Media>,
}

fn parse_conn(value: &str) -> Result<IpAddr, SdpError> {
    // c=IN IP4 192.0.2.1  (a multicast TTL suffix "/127" is tolerated and ignored)
    let mut it = value.split_ascii_whitespace();
    let (net, family, addr) = match (it.next(), it.next(), it.next()) {
        (Some(n), Some(f), Some(a)) => (n, f, a),
        _ => return Err(SdpError::bad(format!("malformed c= line: {value}"))),
    };
    if net != "IN" {
        return Err(SdpError::not_acceptable(format!(
            "unsupported network type {net}"
        )));
    }
    let addr = addr.split('/').next().unwrap_or(addr);
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| SdpError::bad(format!("c= address is not an IP literal: {addr}")))?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(SdpError::bad(format!(
            "c= address family {family} does not match {addr}"
        ))),
    }
}

fn parse(sdp: &str) -> Result<Parsed, SdpError> {
    let mut parsed = Parsed {
        conn: None,
        direction: None,
        media: Vec::new(),
    };
    let mut saw_version = false;
    for raw in sdp.split('\n') {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' {
            return Err(SdpError::bad(format!("malformed SDP line: {line:.60}")));
        }
        let value = &line[2..];
        match bytes[0] {
            b'v' => {
                if value.trim() != "0" {
                    return Err(SdpError::bad(format!("unsupported SDP version {value}")));
                }
                saw_version = true;
            }
            b'c' => {
                let ip = parse_conn(value)?;
                match parsed.media.last_mut() {
                    Some(m) => m.conn = Some(ip),
                    None => parsed.conn = Some(ip),
                }
            }
            b'm' => {
                let mut it = value.split_ascii_whitespace();
                let kind = it.next().ok_or_else(|| SdpError::bad("empty m= line"))?;
                let port_field = it
                    .next()
                    .ok_or_else(|| SdpError::bad("m= line without port"))?;
                // "port/count" is legal; we only use the first port.
                let port_str = port_field.split('/').next().unwrap_or(port_field);
                let port: u16 = port_str
                    .parse()
                    .map_err(|_| SdpError::bad(format!("bad m= port {port_field}")))?;
                let proto = it
                    .next()
                    .ok_or_else(|| SdpError::bad("m= line without protocol"))?;
                parsed.media.push(Media {
                    kind: kind.to_string(),
                    port,
                    proto: proto.to_string(),
                    formats: it.map(str::to_string).collect(),
                    conn: None,
                    rtpmaps: Vec::new(),
                    ptime: None,
                    direction: None,
                    rtcp_mux: false,
                    rtcp: None,
                    crypto: Vec::new(),
                });
            }
            b'a' => {
                let (name, val) = match value.split_once(':') {
                    Some((n, v)) => (n, Some(v)),
                    None => (value, None),
                };
                if let Some(dir) = Direction::from_attr(name.trim()) {
                    match parsed.media.last_mut() {
                        Some(m) => m.direction = Some(dir),
                        None => parsed.direction = Some(dir),
                    }
                    continue;
                }
                let Some(m) = parsed.media.last_mut() else {
                    continue;
                };
                match (name, val) {
                    ("rtpmap", Some(v)) => {
                        // a=rtpmap:<pt> <name>/<clock>[/<channels>]; unparsable ones are ignored
                        let mut it = v.split_ascii_whitespace();
                        if let (Some(pt), Some(enc)) = (it.next(), it.next()) {
                            let mut parts = enc.split('/');
                            let name = parts.next().unwrap_or("");
                            let clock = parts.next().and_then(|c| c.parse().ok());
                            if let (Ok(pt), Some(clock)) = (pt.parse::<u8>(), clock) {
                                m.rtpmaps.push(RtpMap {
                                    pt,
                                    name: name.to_string(),
                                    clock,
                                });
                            }
                        }
                    }
                    ("crypto", Some(v)) => m.crypto.push(v.trim().to_string()),
                    ("ptime", Some(v)) => {
                        m.ptime = v
                            .trim()
                            .parse::<u32>()
                            .ok()
                            .filter(|p| (1..=1000).contains(p));
                    }
                    ("rtcp-mux", None) => m.rtcp_mux = true,
                    ("rtcp", Some(v)) => m.rtcp = parse_rtcp_attr(v),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if !saw_version {
        return Err(SdpError::bad("SDP without v= line"));
    }
    Ok(parsed)
}

/// `a=rtcp:` (RFC 3605 §2.1): `port [nettype addrtype connection-address]`; unparsable → ignored
/// (RTCP then goes to the RTP port + 1, the RFC 3550 default).
fn parse_rtcp_attr(v: &str) -> Option<(u16, Option<IpAddr>)> {
    let mut it = v.split_ascii_whitespace();
    let port: u16 = it.next()?.parse().ok().filter(|p| *p != 0)?;
    let addr = match (it.next(), it.next(), it.next()) {
        (Some("IN"), Some(_), Some(a)) => a.parse().ok(),
        _ => None,
    };
    Some((port, addr))
}

/// The RTCP fields of [`Negotiated`] for a chosen stream.
fn rtcp_of(m: &Media, rtp_ip: IpAddr) -> (bool, Option<SocketAddr>) {
    let addr = m
        .rtcp
        .map(|(port, ip)| SocketAddr::new(ip.unwrap_or(rtp_ip), port));
    (m.rtcp_mux, addr)
}

/// What a payload type means, from its rtpmap or the static table.
enum Format {
    Codec(Codec),
    TelephoneEvent,
    Other,
}

fn classify(m: &Media, pt: u8) -> Format {
    if let Some(map) = m.rtpmaps.iter().find(|r| r.pt == pt) {
        if map.clock == 8000 {
            if let Some(c) = Codec::from_name(&map.name) {
                return Format::Codec(c);
            }
            if map.name.eq_ignore_ascii_case("telephone-event") {
                return Format::TelephoneEvent;
            }
        }
        return Format::Other;
    }
    match pt {
        0 => Format::Codec(Codec::Pcmu),
        8 => Format::Codec(Codec::Pcma),
        _ => Format::Other,
    }
}

fn is_rtp_avp(proto: &str) -> bool {
    // Plain RTP only: SAVP/SAVPF (SRTP, DTLS) cannot be answered without keys.
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

/// SDES-keyed SRTP profiles (RFC 4568 §3.1.4); UDP/TLS/RTP/SAVP (DTLS-SRTP) is not among them.
fn is_rtp_savp(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/SAVP") || proto.eq_ignore_ascii_case("RTP/SAVPF")
}

fn ip_family(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

fn write_header(out: &mut String, local: SocketAddr, session: &mut SdpSession) {
    let version = session.bump();
    let fam = ip_family(local.ip());
    let ip = local.ip();
    let _ = write!(
        out,
        "v=0\r\no=hotline12345 {} {version} IN {fam} {ip}\r\ns=hotline12345\r\nc=IN {fam} {ip}\r\nt=0 0\r\n",
        session.id
    );
}

fn write_audio(
    out: &mut String,
    port: u16,
    proto: &str,
    codecs: &[(Codec, u8)],
    dtmf_pt: Option<u8>,
    dir: Direction,
) {
    let _ = write!(out, "m=audio {port} {proto}");
    for (_, pt) in codecs {
        let _ = write!(out, " {pt}");
    }
    if let Some(pt) = dtmf_pt {
        let _ = write!(out, " {pt}");
    }
    out.push_str("\r\n");
    for (codec, pt) in codecs {
        let _ = write!(out, "a=rtpmap:{pt} {}/8000\r\n", codec.encoding_name());
    }
    if let Some(pt) = dtmf_pt {
        let _ = write!(
            out,
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} {DTMF_FMTP}\r\n"
        );
    }
    let _ = write!(out, "a=ptime:{PTIME_MS}\r\na={}\r\n", dir.attr());
}

fn media_addr(parsed: &Parsed, m: &Media) -> Result<IpAddr, SdpError> {
    m.conn
        .or(parsed.conn)
        .ok_or_else(|| SdpError::bad("audio stream without a c= line"))
}

/// Answers an offer (RFC 3264 §6). Picks the first of PCMU/PCMA in the offerer's order, echoes its
/// telephone-event payload type, answers every m-line (all but the first usable audio stream with
/// port 0), and mirrors the direction. Returns what was agreed and the answer body.
pub fn answer(
    offer: &str,
    local: SocketAddr,
    session: &mut SdpSession,
) -> Result<(Negotiated, String), SdpError> {
    let parsed = parse(offer)?;
    if parsed.media.is_empty() {
        return Err(SdpError::not_acceptable("offer has no media stream"));
    }
    let mut chosen: Option<(usize, Negotiated)> = None;
    let mut crypto = None;
    let mut why_not = String::from("no audio stream offered");
    for (i, m) in parsed.media.iter().enumerate() {
        if !m.kind.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        // An SRTP leg takes SAVP with a key it can use, and a key offered on plain AVP (best-effort SRTP, as
        // baresip's `mediaenc srtp` offers); other legs plain RTP only.
        crypto = session.srtp.as_ref().and_then(|_| srtp::choose(&m.crypto));
        let savp_ok = is_rtp_savp(&m.proto) && crypto.is_some();
        if !is_rtp_avp(&m.proto) && !savp_ok {
            why_not = if is_rtp_savp(&m.proto) && session.srtp.is_some() {
                "no usable a=crypto (we answer AES_CM_128_HMAC_SHA1_80/32)".to_string()
            } else {
                format!("unsupported audio transport {}", m.proto)
            };
            continue;
        }
        let mut codec = None;
        let mut dtmf_pt = None;
        for f in &m.formats {
            let Ok(pt) = f.parse::<u8>() else { continue };
            if pt > 127 {
                continue;
            }
            match classify(m, pt) {
                Format::Codec(c) if codec.is_none() => codec = Some((c, pt)),
                Format::TelephoneEvent if dtmf_pt.is_none() => dtmf_pt = Some(pt),
                _ => {}
            }
        }
        let Some((codec, pt)) = codec else {
            why_not = "no common codec (we offer PCMU, PCMA)".to_string();
            continue;
        };
        let ip = media_addr(&parsed, m)?;
        let offered = m
            .direction
            .or(parsed.direction)
            .unwrap_or(Direction::SendRecv);
        // Legacy hold (RFC 2543): c=0.0.0.0 means the offerer does not want to receive.
        let offered = if ip.is_unspecified() && offered.receives() {
            if offered.sends() {
                Direction::SendOnly
            } else {
                Direction::Inactive
            }
        } else {
            offered
        };
        let (rtcp_mux, rtcp) = rtcp_of(m, ip);
        chosen = Some((
            i,
            Negotiated {
                remote: SocketAddr::new(ip, m.port),
                codec,
                pt,
                dtmf_pt,
                ptime_ms: m.ptime.unwrap_or(PTIME_MS),
                direction: offered.mirror(),
                rtcp_mux,
                rtcp,
            },
        ));
        break;
    }
    let Some((index, negotiated)) = chosen else {
        return Err(SdpError::not_acceptable(why_not));
    };
    // RFC 4568 §7.1.2: the answer names the chosen tag and suite, with our own key for it.
    let answer_crypto = match (&mut session.srtp, crypto) {
        (Some(k), Some(c)) => {
            k.local = SdesKey::from_material(c.key.suite, k.local.material());
            k.remote = Some(c.key);
            Some(k.local.attribute(c.tag))
        }
        (Some(k), None) => {
            k.remote = None;
            None
        }
        (None, _) => None,
    };

    let mut out = String::with_capacity(320);
    write_header(&mut out, local, session);
    for (i, m) in parsed.media.iter().enumerate() {
        if i == index {
            // RFC 3264 §6.1: the answer keeps the offered transport (RTP/AVP or RTP/AVPF).
            write_audio(
                &mut out,
                local.port(),
                &m.proto,
                &[(negotiated.codec, negotiated.pt)],
                negotiated.dtmf_pt,
                negotiated.direction,
            );
            if negotiated.rtcp_mux {
                // RFC 5761 §5.1.1: accept the offered multiplexing by echoing the attribute.
                out.push_str("a=rtcp-mux\r\n");
            }
            if let Some(c) = &answer_crypto {
                let _ = write!(out, "a=crypto:{c}\r\n");
            }
        } else {
            // RFC 3264 §6: a rejected stream keeps its m-line with port 0 and one of its formats.
            let fmt = m.formats.first().map(String::as_str).unwrap_or("0");
            let _ = write!(out, "m={} 0 {} {fmt}\r\n", m.kind, m.proto);
        }
    }
    Ok((negotiated, out))
}

/// Builds an offer (for the B2BUA's outgoing leg, and for hold/resume re-INVITEs).
pub fn offer(
    local: SocketAddr,
    session: &mut SdpSession,
    codecs: &[Codec],
    dtmf_pt: u8,
    dir: Direction,
) -> String {
    let mut out = String::with_capacity(320);
    write_header(&mut out, local, session);
    let list: Vec<(Codec, u8)> = codecs.iter().map(|c| (*c, c.static_pt())).collect();
    let proto = if session.srtp.is_some() {
        "RTP/SAVP"
    } else {
        "RTP/AVP"
    };
    write_audio(&mut out, local.port(), proto, &list, Some(dtmf_pt), dir);
    if let Some(k) = &session.srtp {
        let _ = write!(out, "a=crypto:{}\r\n", k.local.attribute(OUR_CRYPTO_TAG));
    }
    out
}

/// The tag of the one `a=crypto` line our offers carry.
const OUR_CRYPTO_TAG: u32 = 1;

/// Reads the peer's key from the answer to an SRTP offer of ours ([`SdpSession::use_srtp`]): it must accept
/// our tag with our suite (RFC 4568 §7.1.3), else 488. Nothing to do on a plain leg.
pub fn accept_crypto(answer: &str, session: &mut SdpSession) -> Result<(), SdpError> {
    let Some(keys) = session.srtp.as_mut() else {
        return Ok(());
    };
    let parsed = parse(answer)?;
    let m = parsed
        .media
        .iter()
        .find(|m| m.kind.eq_ignore_ascii_case("audio"))
        .ok_or_else(|| SdpError::not_acceptable("answer has no audio stream"))?;
    let c = srtp::choose(&m.crypto)
        .filter(|c| c.tag == OUR_CRYPTO_TAG && c.key.suite == keys.local.suite)
        .ok_or_else(|| SdpError::not_acceptable("SRTP offer answered without our a=crypto"))?;
    keys.remote = Some(c.key);
    Ok(())
}

/// Reads the answer to an offer we made with [`offer`].
pub fn accept_answer(answer: &str, our_offer_codecs: &[Codec]) -> Result<Negotiated, SdpError> {
    let parsed = parse(answer)?;
    let m = parsed
        .media
        .iter()
        .find(|m| m.kind.eq_ignore_ascii_case("audio"))
        .ok_or_else(|| SdpError::not_acceptable("answer has no audio stream"))?;
    if m.port == 0 {
        return Err(SdpError::not_acceptable("answer rejected the audio stream"));
    }
    let mut codec = None;
    let mut dtmf_pt = None;
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        match classify(m, pt) {
            Format::Codec(c) if codec.is_none() && our_offer_codecs.contains(&c) => {
                codec = Some((c, pt))
            }
            Format::TelephoneEvent if dtmf_pt.is_none() => dtmf_pt = Some(pt),
            _ => {}
        }
    }
    let (codec, pt) =
        codec.ok_or_else(|| SdpError::not_acceptable("answer has none of the offered codecs"))?;
    let ip = media_addr(&parsed, m)?;
    let theirs = m
        .direction
        .or(parsed.direction)
        .unwrap_or(Direction::SendRecv);
    // We never offer rtcp-mux, so an answer's `a=rtcp-mux` is ignored (RFC 5761 §5.1.1).
    let (_, rtcp) = rtcp_of(m, ip);
    Ok(Negotiated {
        remote: SocketAddr::new(ip, m.port),
        codec,
        pt,
        dtmf_pt,
        ptime_ms: m.ptime.unwrap_or(PTIME_MS),
        direction: theirs.mirror(),
        rtcp_mux: false,
        rtcp,
    })
}

/// A placeholder remote for a leg whose peer is not known yet.
pub fn unspecified_remote() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0)
}
