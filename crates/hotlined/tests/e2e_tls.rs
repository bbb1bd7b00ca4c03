//! Remote seats over TLS with real peers: a baresip seat registers over SIP/TLS with `mediaenc=srtp-mand`, a
//! SIPp trunk caller dials 12345, the seat auto-answers, and audio crosses the SRTP leg both ways — the seat's
//! tone reaches the caller decrypted by the daemon, the caller's tone is recorded by baresip after it decrypted
//! it. A TLS-only seat's REGISTER and its own INVITE over UDP are refused with 403 TLS Required.

mod support;

use std::path::Path;
use std::time::Duration;
use support::*;

/// A TLS-only seat the example config does not have (its password `hotline-3001`, as the helpers expect).
const TLS_SEAT: &str = "\n[[seats]]\nid = \"3001\"\npassword = \"hotline-3001\"\ntls_only = true\n";

fn tls_daemon(certs: &Path) -> (Daemon, u16, TlsFiles) {
    let tls_port = free_port();
    let files = TlsFiles::generate(certs);
    let copy = TlsFiles {
        cert: files.cert.clone(),
        key: files.key.clone(),
        cert_der: files.cert_der.clone(),
    };
    let d = Daemon::start(Options {
        sip_tls: Some((tls_port, files)),
        extra: TLS_SEAT.to_string(),
        ..Options::default()
    });
    (d, tls_port, copy)
}

/// G.711 A-law or μ-law to linear, for the test's own look at the audio.
fn linear(pt: u8, b: u8) -> i16 {
    if pt == 8 {
        let a = b ^ 0x55;
        let seg = (a & 0x70) >> 4;
        let mut t = i32::from(a & 0x0f) << 4;
        t = match seg {
            0 => t + 8,
            1 => t + 0x108,
            _ => (t + 0x108) << (seg - 1),
        };
        (if a & 0x80 != 0 { t } else { -t }) as i16
    } else {
        let u = !b;
        let t = ((i32::from(u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
        (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
    }
}

/// Zero crossings per second of the samples (a 440 Hz sine has 880).
fn crossings_per_s(samples: &[i16]) -> f64 {
    let n = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    n as f64 / (samples.len() as f64 / 8000.0)
}

/// The 16-bit samples of a PCM WAV file (its `data` chunk).
fn wav_samples(path: &Path) -> Vec<i16> {
    let b = std::fs::read(path).unwrap();
    let mut i = 12;
    while i + 8 <= b.len() {
        let len = u32::from_le_bytes([b[i + 4], b[i + 5], b[i + 6], b[i + 7]]) as usize;
        if &b[i..i + 4] == b"data" {
            // A header not yet rewritten on close says 0 (or all ones): then the data runs to the end.
            let end = match len {
                0 | 0xffff_ffff => b.len(),
                _ => (i + 8 + len).min(b.len()),
            };
            return b[i + 8..end]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
        }
        i += 8 + len + (len & 1);
    }
    Vec::new()
}

#[test]
fn a_baresip_seat_on_tls_answers_a_call_with_srtp_audio_both_ways() {
    let certs = tempfile::tempdir().unwrap();
    let (d, tls_port, files) = tls_daemon(certs.path());
    let recordings = tempfile::tempdir().unwrap();
    let phone = Baresip::start_with(
        &format!(
            "<sip:3001@127.0.0.1:{tls_port};transport=tls>;auth_pass=hotline-3001;answermode=auto;\
             mediaenc=srtp-mand;regint=60"
        ),
        &format!(
            "module srtp.so\nmodule sndfile.so\nsnd_path {}\nsip_cafile {}\n",
            recordings.path().display(),
            files.cert.display()
        ),
    );
    wait_for(
        Duration::from_secs(15),
        "baresip registered over TLS",
        || d.seat_status("3001")["registered"] == true,
    );
    assert!(
        d.log().contains("seat registered"),
        "registration logged: {}",
        d.log()
    );

    let caller = RtpPeer::new();
    let mut call = dial(&d, "caller.xml", "12345", caller.port(), 8000);
    phone.wait("CALL_ESTABLISHED", "incoming", 1, Duration::from_secs(30));
    assert!(
        d.log().contains("leg media is SRTP (SDES)"),
        "the seat's leg is SRTP: {}",
        d.log()
    );

    // Seat → caller: baresip's 440 Hz tone, SRTP on the seat's leg, arrives decrypted at the plain caller.
    let mut tone_from = None;
    wait_for(
        Duration::from_secs(10),
        "the seat's tone at the caller",
        || {
            let got = caller.packets();
            let recent: Vec<_> = got.iter().rev().take(50).collect();
            if recent.len() < 50 {
                return false;
            }
            let samples: Vec<i16> = recent
                .iter()
                .rev()
                .flat_map(|p| p.payload.iter().map(|b| linear(p.pt, *b)))
                .collect();
            let rate = crossings_per_s(&samples);
            tone_from = Some(recent[0].from);
            (780.0..980.0).contains(&rate) && samples.iter().any(|s| s.unsigned_abs() > 1000)
        },
    );

    // Caller → seat: a constant A-law level, encrypted towards the seat, recorded by baresip after decryption.
    let to = tone_from.expect("the daemon's caller leg address");
    caller.send_tone(to, 8, 0x2a, 150);
    let st = call.wait(Duration::from_secs(30));
    assert!(st.success(), "{}\n{}", call.messages(), d.log());
    phone.wait("CALL_CLOSED", "incoming", 1, Duration::from_secs(10));
    drop(phone); // flushes and closes the recordings

    let heard: Vec<_> = std::fs::read_dir(recordings.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .collect();
    assert_eq!(heard.len(), 1, "one decoded recording: {heard:?}");
    let samples = wav_samples(&heard[0]);
    let level = linear(8, 0x2a);
    let ours = samples.iter().filter(|s| **s == level).count();
    assert!(
        ours >= 8000,
        "baresip decoded at least 1 s of the caller's level {level}: {ours} of {} samples",
        samples.len()
    );
    assert!(
        d.log().matches("leg media is SRTP (SDES)").count() == 1,
        "only the seat's leg is SRTP, not the trunk caller's"
    );
}

#[test]
fn a_tls_only_seat_registering_over_udp_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let (d, _, _) = tls_daemon(certs.path());
    let port = free_port().to_string();
    // The right password: the 401, then 403 because the transport is not TLS.
    let mut seat = Sipp::spawn(
        d.sip,
        &sipp_dir().join("seat_bad_password.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-key",
            "seat",
            "3001",
            "-au",
            "3001",
            "-ap",
            "hotline-3001",
        ],
    );
    let st = seat.wait(Duration::from_secs(20));
    assert!(st.success(), "{}", seat.messages());
    assert!(
        seat.messages().contains("SIP/2.0 403 TLS Required"),
        "{}",
        seat.messages()
    );
    assert_eq!(d.seat_status("3001")["registered"], false);
    // Its own INVITE over UDP (a feature code, which a seat on TLS would get answered) is refused the same way.
    let scenario = std::fs::read_to_string(sipp_dir().join("seat_consult_refused.xml"))
        .unwrap()
        .replace("[expect_status]", "403");
    let path = certs.path().join("seat_invite_403.xml");
    std::fs::write(&path, scenario).unwrap();
    let port = free_port().to_string();
    let args = [
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-s",
        "*21",
        "-key",
        "seat",
        "3001",
    ];
    let auth = ["-au", "3001", "-ap", "hotline-3001"];
    let mut invite = Sipp::spawn(d.sip, &path, &[&args[..], &auth[..]].concat());
    let st = invite.wait(Duration::from_secs(20));
    assert!(st.success(), "{}", invite.messages());
    assert!(
        invite.messages().contains("SIP/2.0 403 TLS Required"),
        "{}",
        invite.messages()
    );
    // Another seat over UDP still registers.
    let rtp = RtpPeer::new();
    let _s = register_seat(&d, "1001", "seat_answer.xml", rtp.port());
}
