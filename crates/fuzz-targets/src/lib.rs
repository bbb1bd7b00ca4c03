//! Harness bodies for fuzzing every parser of outside input, one `pub fn TARGET(data: &[u8])` each.
//!
//! The same functions run under AFL (the binaries in `fuzz/`, outside the workspace) and in the
//! workspace's replay test (`tests/replay.rs`), which feeds them every file of `fuzz/corpus/` and
//! `fuzz/regressions/` on each `tests/run`. A harness panics, which AFL records as a crash, when the
//! parser panics and also when a cheap invariant fails (a parsed message re-parses to the same
//! fields, framing never yields more bytes than were fed, a prompt the plan checker accepts is one
//! the media engine can play...), so the fuzzer finds logic bugs and not only crashes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::dtmf::{self, DtmfDigit, DtmfReceiver, EventPayload};
use media::rtp::{self, OutStream};
use media::sdp::{self, Codec, SdpSession};
use media::Prompt;
use sip::auth::{Algorithm, AuthOutcome, Challenge, Credentials, DigestChallenger};
use sip::stateless::error_reply;
use sip::{frame, Frame, ParseError, SipMessage, Via};

/// A harness body: panics on a bug.
pub type Harness = fn(&[u8]);

/// Every target by name: the AFL binary of each is `fuzz/src/bin/<name>.rs`, its corpus
/// `fuzz/corpus/<name>/`.
pub const TARGETS: &[(&str, Harness)] = &[
    ("sip_message", sip_message),
    ("sip_stream", sip_stream),
    ("sdp", sdp),
    ("digest", digest),
    ("rtp", rtp),
    ("rtcp", rtcp),
    ("rfc4733", rfc4733),
    ("wav", wav),
    ("dialplan", dialplan),
    ("config", config),
];

// ---------- SIP ----------

/// One UDP datagram through the parser (RFC 3261 §7, §18.3), and when it is refused, through the
/// stateless 400 the transport would send back.
pub fn sip_message(data: &[u8]) {
    match SipMessage::parse(Bytes::copy_from_slice(data)) {
        Ok(m) => check_message(&m, data.len()),
        Err(e) => check_refusal(data, &e),
    }
}

fn check_message(m: &SipMessage, fed: usize) {
    assert!(
        m.wire().len() <= fed,
        "a message is never longer than its datagram"
    );
    assert!(!m.vias().is_empty());
    // Every accessor a layer may call on a parsed message: none may panic.
    let _ = m.validate_request();
    let _ = (m.contacts(), m.routes(), m.record_routes(), m.diversion());
    let _ = (m.history_info(), m.p_asserted_identity(), m.refer_to());
    let _ = (m.referred_by(), m.replaces(), m.rack(), m.expires());
    let _ = (
        m.session_expires(),
        m.rseq(),
        m.event(),
        m.subscription_state(),
    );
    let _ = (m.original_called(), m.require(), m.supported(), m.allow());
    let _ = (m.authorization(), m.www_authenticate(), m.max_forwards());
    let _ = (m.unsupported_requires(&["100rel", "timer"]), m.to_string());
    let _ = (m.headers().count(), m.headers_raw().count(), m.reason());

    // Its own bytes parse again to the same message (what a relay or a log replay relies on).
    let again = SipMessage::parse(m.wire()).expect("a parsed message's own bytes parse again");
    assert_eq!(again.method(), m.method());
    assert_eq!(again.status(), m.status());
    assert_eq!(again.request_uri(), m.request_uri());
    assert_eq!(again.call_id(), m.call_id());
    assert_eq!(again.cseq(), m.cseq());
    assert_eq!(again.from(), m.from());
    assert_eq!(again.to(), m.to());
    assert_eq!(again.vias(), m.vias());
    assert_eq!(again.body(), m.body());

    // A response to a parsed request always parses and carries its Vias, Call-ID, CSeq (§8.2.6).
    if m.is_request() {
        let resp = SipMessage::parse(m.response(487, "Request Terminated").to_tag("fz").build())
            .expect("our response to a parsed request parses");
        assert_eq!(resp.call_id(), m.call_id());
        assert_eq!(resp.cseq(), m.cseq());
        assert_eq!(resp.vias(), m.vias());
        assert_eq!(resp.from().tag(), m.from().tag());
        assert!(resp.to().tag().is_some());
    }
}

/// A refused message: the status is one to answer with, and the stateless answer (if any) is a
/// well-formed response routed by the request's top Via.
fn check_refusal(data: &[u8], e: &ParseError) {
    assert!((400..700).contains(&e.status), "{e}");
    let Some(reply) = error_reply(data, e) else {
        return;
    };
    let text = std::str::from_utf8(&reply.bytes).expect("our answer is ASCII");
    assert!(
        text.starts_with(&format!("SIP/2.0 {} ", e.status)),
        "{text}"
    );
    let head = text
        .strip_suffix("\r\n\r\n")
        .expect("our answer ends its head");
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    assert!(!status.bytes().any(|b| b.is_ascii_control()), "{status:?}");
    let mut names = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(": ").expect("name: value");
        if name == "Via" && names.is_empty() {
            assert_eq!(
                Via::parse(first_element(value)).as_ref(),
                Ok(&reply.top_via),
                "{text}"
            );
        }
        assert!(
            ["Via", "From", "To", "Call-ID", "CSeq", "Content-Length"].contains(&name),
            "{text}"
        );
        names.push(name);
    }
    assert_eq!(names.first(), Some(&"Via"), "routed by the top Via: {text}");
    if ["From", "To", "Call-ID"].iter().all(|n| names.contains(n)) {
        let resp = SipMessage::parse(reply.bytes.clone()).expect("a complete answer parses");
        assert_eq!(resp.status(), Some(e.status));
    }
}

/// The first non-empty element of a comma list, commas inside quotes not counting.
fn first_element(list: &str) -> &str {
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in list.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                if !list[start..i].trim().is_empty() {
                    return list[start..i].trim();
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    list[start..].trim()
}

/// The same bytes as a TCP stream (RFC 3261 §18.3), framed once as a whole and once as they would
/// arrive in pieces: both give the same messages, never more bytes than were fed, and the parser
/// agrees with the framer on where each message ends.
pub fn sip_stream(data: &[u8]) {
    const MAX: usize = 4096;
    let whole = frames(data, &[data.len()], MAX);
    let step = 1 + data.first().map_or(0, |b| usize::from(*b) % 61);
    let cuts: Vec<usize> = (step..data.len())
        .step_by(step)
        .chain([data.len()])
        .collect();
    let pieces = frames(data, &cuts, MAX);
    assert_eq!(whole, pieces, "framing depends on how the bytes arrive");
}

/// The messages framed as `data` arrives up to each cut, as the TCP reader does: a complete frame is
/// taken, an invalid one closes the connection (the `true`), an incomplete one waits for more.
fn frames(data: &[u8], cuts: &[usize], max: usize) -> (Vec<Vec<u8>>, bool) {
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut out = Vec::new();
    for &cut in cuts {
        buf.extend_from_slice(&data[fed..cut]);
        fed = cut;
        loop {
            match frame(&buf, max) {
                Frame::Incomplete => break,
                Frame::Complete { skip, len } => {
                    assert!(len > 0 && len <= max, "frame of {len} bytes");
                    assert!(skip + len <= buf.len(), "framed more bytes than were fed");
                    let msg: Vec<u8> = buf[skip..skip + len].to_vec();
                    buf.drain(..skip + len);
                    if let Ok(m) = SipMessage::parse(Bytes::from(msg.clone())) {
                        assert_eq!(m.wire().len(), len, "parser and framer disagree on the end");
                    }
                    out.push(msg);
                }
                Frame::Invalid(e) => {
                    assert!((400..700).contains(&e.status));
                    return (out, true);
                }
            }
        }
    }
    (out, false)
}

// ---------- SDP ----------

/// An SDP offer or answer from a peer (RFC 4566, RFC 3264). Whatever we answer to an offer is an
/// answer we accept ourselves, with the same codec, payload types and mirrored direction.
pub fn sdp(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let local: SocketAddr = SocketAddr::from(([192, 0, 2, 1], 40_000));
    let mut session = SdpSession::new(7);
    match sdp::answer(text, local, &mut session) {
        Ok((ours, body)) => {
            assert!(ours.pt < 128 && ours.dtmf_pt.is_none_or(|p| p < 128));
            // Our offers have one m-line, so answers to them have one (RFC 3264 §6).
            if body.matches("\r\nm=").count() == 1 {
                let back =
                    sdp::accept_answer(&body, &[ours.codec]).expect("our answer is accepted");
                assert_eq!(
                    (back.codec, back.pt, back.dtmf_pt),
                    (ours.codec, ours.pt, ours.dtmf_pt)
                );
                assert_eq!(back.remote, local);
                assert_eq!(back.direction, ours.direction.mirror());
            }
        }
        Err(e) => assert!(matches!(e.status, 400 | 488), "{e}"),
    }
    if let Err(e) = sdp::accept_answer(text, &[Codec::Pcmu, Codec::Pcma]) {
        assert!(matches!(e.status, 400 | 488), "{e}");
    }
}

// ---------- digest ----------

/// An `Authorization` or `WWW-Authenticate` value (RFC 2617, RFC 8760). The verifier never panics
/// on what a peer sends; a peer's own username, uri and cnonce, answering a real challenge of ours,
/// are accepted once and then refused as a replay.
pub fn digest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ch) = Challenge::parse(text) {
        let value = ch.respond("REGISTER", "sip:gov.example", "1001", "pw", "cn", 1);
        let c = Credentials::parse(&value).expect("our answer to a challenge parses");
        assert_eq!(c.realm.as_deref(), Some(ch.realm.as_str()));
        assert_eq!(c.nonce.as_deref(), Some(ch.nonce.as_str()));
        assert_eq!(c.opaque, ch.opaque);
    }
    let Ok(peer) = Credentials::parse(text) else {
        return;
    };
    let now = Instant::now();
    let mut server = DigestChallenger::new("gov.example", [7; 32], Duration::from_secs(300));
    let _ = server.verify("REGISTER", &peer, "pw", now);

    let challenge = server.challenge(now, false, &[Algorithm::Md5]);
    let ch = Challenge::parse(&challenge[0]).expect("our challenge parses");
    let user = peer.username.as_deref().unwrap_or("1001");
    let uri = peer.uri.as_deref().unwrap_or("sip:gov.example");
    let cnonce = peer
        .cnonce
        .as_deref()
        .filter(|c| !c.is_empty())
        .unwrap_or("c");
    let value = ch.respond("REGISTER", uri, user, "pw", cnonce, 1);
    let back = Credentials::parse(&value).expect("our Authorization parses");
    assert_eq!(back.username.as_deref(), Some(user));
    assert_eq!(back.uri.as_deref(), Some(uri));
    assert_eq!(back.cnonce.as_deref(), Some(cnonce));
    assert_eq!(server.verify("REGISTER", &back, "pw", now), AuthOutcome::Ok);
    assert_eq!(
        server.verify("REGISTER", &back, "pw", now),
        AuthOutcome::Replay
    );
    let wrong = server.verify("REGISTER", &back, "other", now);
    assert_ne!(wrong, AuthOutcome::Ok, "a wrong password never passes");
}

// ---------- RTP / RTCP ----------

/// One datagram on a media port (RFC 3550; RTCP multiplexed per RFC 5761 is told apart and left to
/// the RTCP path). The relay's in-place rewrite keeps a packet RTP with its payload where it was.
pub fn rtp(data: &[u8]) {
    let Some(h) = rtp::parse(data) else {
        return;
    };
    assert!(!rtp::is_rtcp(data), "RTCP parsed as RTP");
    assert!(rtp::HEADER_LEN <= h.payload_start);
    assert!(h.payload_start <= h.payload_end && h.payload_end <= data.len());
    assert!(h.pt < 128);

    let mut copy = data.to_vec();
    let pt = if h.pt == 0 { 8 } else { 0 };
    let (seq, ts, ssrc) = (h.seq.wrapping_add(1), h.ts.wrapping_add(160), !h.ssrc);
    rtp::rewrite_in_place(&mut copy, !h.marker, pt, seq, ts, ssrc);
    let r = rtp::parse(&copy).expect("a rewritten packet is still RTP");
    assert_eq!(
        (r.marker, r.pt, r.seq, r.ts, r.ssrc),
        (!h.marker, pt, seq, ts, ssrc)
    );
    assert_eq!(
        (r.payload_start, r.payload_end),
        (h.payload_start, h.payload_end)
    );

    // Relayed onto another leg, the stream stays continuous in seq and ts.
    let mut out = OutStream::new(0x1234, 100, 1000);
    let a = out.relay(0, h.ssrc, h.seq, h.ts, h.marker);
    let b = out.relay(1, h.ssrc, seq, ts, false);
    assert_eq!(
        (b.seq, b.ts, b.ssrc),
        (a.seq.wrapping_add(1), a.ts.wrapping_add(160), a.ssrc)
    );

    let _ = DtmfReceiver::new().on_packet(h.ts, &data[h.payload_start..h.payload_end]);
}

/// One datagram on an RTCP port (RFC 3550 §6): a compound packet that parses writes out and
/// parses again with the same reports; a session fed it keeps finite figures. The same bytes as
/// a run of (seq, ts, arrival) records through the receive statistics: lost is always expected −
/// received and the report block agrees with it.
pub fn rtcp(data: &[u8]) {
    use media::rtcp::{self, RtcpPacket, RtcpSession};
    if let Ok(pkts) = rtcp::parse_compound(data) {
        assert!(!pkts.is_empty());
        let wire = rtcp::write_compound(&pkts);
        assert_eq!(wire.len() % 4, 0);
        let again = rtcp::parse_compound(&wire).expect("our own RTCP parses");
        assert_eq!(again.len(), pkts.len());
        for (a, b) in pkts.iter().zip(&again) {
            if matches!(
                a,
                RtcpPacket::SenderReport { .. } | RtcpPacket::ReceiverReport { .. }
            ) {
                assert_eq!(a, b, "reports survive a round trip");
            }
        }
    }
    let mut session = RtcpSession::new(0x0102_0304, "fuzz", 1 << 32);
    session.start(0, 0.5);
    let _ = session.on_rtcp(data, 1_000_000);
    let mut clock = 0u64;
    for rec in data.chunks_exact(7) {
        let seq = u16::from_be_bytes([rec[0], rec[1]]);
        let ts = u32::from_be_bytes([rec[2], rec[3], rec[4], rec[5]]);
        clock += u64::from(rec[6]) * 1000;
        session.rx.on_rtp(
            rec[6] as u32 & 3,
            seq,
            ts,
            (clock / 125) as u32,
            rec[6] & 4 == 0,
        );
    }
    let rx = session.rx.clone();
    assert_eq!(rx.lost(), rx.expected() as i64 - rx.received() as i64);
    let q = session.quality();
    assert!(q.jitter_ms.is_finite() && q.loss_fraction.is_finite());
    assert!((0.0..=1.0).contains(&q.loss_fraction));
    if let Some(m) = q.mos {
        assert!((1.0..=4.5).contains(&m), "{q:?}");
    }
    if let Some(wire) = session.poll(clock + 10_000_000, None, 0.5) {
        rtcp::parse_compound(&wire).expect("our report parses");
    }
    let _ = session.bye(clock + 20_000_000, None);
}

// ---------- RFC 4733 and INFO DTMF ----------

fn check_digit(d: &DtmfDigit) {
    assert!(dtmf::char_to_event(d.digit).is_some(), "{d:?}");
    assert!(d.volume <= 63, "{d:?}");
}

/// A run of telephone-event payloads (RFC 4733 §2.3) as one stream: each 5-byte record is a
/// timestamp step (0: same event) and a payload. Also the same bytes as a SIP INFO DTMF body, and
/// one key press as a sender emits it, which must come out as exactly one digit.
pub fn rfc4733(data: &[u8]) {
    let mut rx = DtmfReceiver::new();
    let mut ts: u32 = 0;
    for rec in data.chunks(5) {
        let [step, ..] = rec else { break };
        ts = ts.wrapping_add(u32::from(*step) * 160);
        let payload = &rec[1.min(rec.len())..];
        if let [e, flags, d0, d1] = *payload.get(..4).unwrap_or_default() {
            let p = EventPayload::parse(payload).expect("4 bytes are an event payload");
            // The R bit is reserved (§2.3): everything else survives a round trip.
            assert_eq!(p.encode(), [e, flags & !0x40, d0, d1]);
        }
        if let Some(d) = rx.on_packet(ts, payload) {
            check_digit(&d);
        }
    }
    if let Some(d) = rx.flush() {
        check_digit(&d);
    }

    if let Ok(text) = std::str::from_utf8(data) {
        for ct in ["application/dtmf-relay", "application/dtmf"] {
            if let Some(d) = dtmf::parse_info_body(ct, text) {
                check_digit(&d);
                assert!(d.duration_ms > 0 && d.duration_ms <= 60_000, "{d:?}");
            }
        }
    }

    if let [event, dur, volume, ..] = *data {
        let event = event % 16;
        let duration_ms = 40 + u32::from(dur) * 31;
        let mut rx = DtmfReceiver::new();
        let got: Vec<DtmfDigit> = dtmf::rfc4733_packets(event, duration_ms, volume % 64)
            .into_iter()
            .filter_map(|(_, p)| rx.on_packet(9_000, &p))
            .collect();
        assert_eq!(got.len(), 1, "one key press, one digit: {got:?}");
        assert_eq!(Some(got[0].digit), dtmf::event_to_char(event));
        assert_eq!(got[0].duration_ms, duration_ms);
        assert_eq!(rx.flush(), None);
    }
}

// ---------- WAV prompts ----------

/// A prompt file, through the media engine's reader and the dial-plan checker. A prompt the checker
/// lets into a live plan must be one the engine can play.
pub fn wav(data: &[u8]) {
    let played = Prompt::from_wav_bytes(data);
    if let Ok(p) = &played {
        let n = p.frame_count();
        assert!(n > 0);
        assert!(p.frame(Codec::Pcmu, n - 1).is_some() && p.frame(Codec::Pcma, n).is_none());
        assert!(p.duration() <= Duration::from_millis(20 * n as u64));
        assert!(p.duration() > Duration::from_millis(20 * (n as u64 - 1)));
    }
    if let Ok(()) = dialplan::check_prompt_wav(data) {
        if let Err(e) = &played {
            panic!("the plan checker accepts a prompt the media engine refuses: {e}");
        }
    }
}

// ---------- dial plan ----------

/// A numbers file for inputs that carry only a center file.
const NUMBERS: &str = "[[number]]\nnumber = \"12396\"\nname = \"科技服务\"\nmode = \"whole\"\n";
/// The calendar the plans name as `../calendars/china.toml`.
const CALENDAR: &str = include_str!("../../../dialplans/calendars/china.toml");
/// The prompts the example plans name as `../prompts/NAME.wav`; each a short valid μ-law WAV here.
const PROMPTS: [&str; 8] = [
    "greeting",
    "menu_jingjiang",
    "merged_transition",
    "off_hours",
    "please_wait",
    "ringback",
    "transfer_failed",
    "transfer_ringing",
];

/// A μ-law WAV of `samples` samples of silence.
pub fn ulaw_wav(samples: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(44 + samples as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + samples).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&7u16.to_le_bytes()); // WAVE_FORMAT_MULAW
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&samples.to_le_bytes());
    b.resize(44 + samples as usize, 0xFF);
    b
}

/// A dial plan: the input is `center.toml`, optionally followed by a NUL and a numbers file. The
/// loader only reads directories, so the harness writes them into a scratch directory of this
/// process (beside the calendar and prompts the example plans name).
pub fn dialplan(data: &[u8]) {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    let root = SCRATCH.get_or_init(|| {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        base.join(format!("hotline-fuzz-dialplan-{}", std::process::id()))
    });
    dialplan_in(root, data);
}

/// [`dialplan`] with the scratch directory given (the replay test passes a temporary one).
pub fn dialplan_in(root: &Path, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return; // the loader reads plan files as UTF-8 text and refuses anything else
    };
    let (center, numbers) = text.split_once('\0').unwrap_or((text, NUMBERS));
    let plan = root.join("plan");
    if !plan.is_dir() {
        std::fs::create_dir_all(&plan).expect("scratch plan directory");
        std::fs::create_dir_all(root.join("calendars")).expect("scratch calendars");
        std::fs::write(root.join("calendars/china.toml"), CALENDAR).expect("calendar");
        std::fs::create_dir_all(root.join("prompts")).expect("scratch prompts");
        for name in PROMPTS {
            std::fs::write(root.join(format!("prompts/{name}.wav")), ulaw_wav(800)).expect("wav");
        }
    }
    std::fs::write(plan.join("center.toml"), center).expect("center.toml");
    std::fs::write(plan.join("numbers.toml"), numbers).expect("numbers.toml");

    let report = dialplan::check_dir(&plan);
    let Ok(p) = dialplan::Dialplan::load_dir(&plan) else {
        assert!(!report.is_ok(), "check passed but the plan did not load");
        return;
    };
    assert!(report.is_ok(), "the plan loaded but check found errors");
    assert_eq!(report.numbers, Some(p.len()));
    // Routing is total: any call, any time, gets a decision.
    let at = chrono::DateTime::from_timestamp(1_637_820_000, 0).unwrap_or_default();
    for called in ["12345", "12396", "110", "07928259110", "", "*"] {
        for digits in ["", "1", "9#"] {
            let q = dialplan::CallQuery {
                called,
                diversion: Some("12396"),
                caller: Some("13800000000"),
                at,
                digits,
            };
            let _ = p.route(&q);
        }
    }
    for t in p.transfer_targets() {
        let found = p.transfer_target(&t.number);
        assert!(found.is_some(), "a listed transfer target is found: {t:?}");
    }
}

// ---------- daemon configuration ----------

/// `hotlined.toml`, through the same deserialisation and checks as `hotlined run` (without the
/// environment overrides). What it accepts keeps the promises `validate` makes.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = hotlined::config::Config::from_toml_str(text, Path::new("/etc/hotlined")) else {
        return;
    };
    assert!(cfg.media.port_min < cfg.media.port_max);
    assert_eq!(
        cfg.trunk_acl().len(),
        cfg.trunks.allow.len(),
        "every ACL entry parsed"
    );
    let mut ids: Vec<&str> = cfg.seats.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "seat ids are unique");
    assert!(cfg.seats.iter().all(|s| s.password.len() >= 8));
    assert!(cfg.dialplan.dir.is_absolute(), "relative paths are rebased");
}
