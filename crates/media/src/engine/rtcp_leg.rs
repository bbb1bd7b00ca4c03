//! The I/O of a leg's RTCP session (the rules are in `crate::rtcp`): the socket on RTP port + 1, RTCP
//! multiplexed on the RTP port (RFC 5761) handed in by the receive loop, the report sent by the pacing
//! thread when it falls due, and the BYE when the leg ends.
//!
//! Cheap per leg by design: the RTCP socket is a plain non-blocking socket, not registered with the
//! runtime and without a task of its own. A peer reports every few seconds, so its reports wait in the
//! socket buffer until our own report is due (the pacing tick that already visits the leg) or the leg's
//! figures are read, and are drained then. Nothing here runs per RTP packet.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{lock, LegShared, LegState, TICK};
use crate::rtcp::{ntp_from_unix, SenderSnapshot};
use crate::rtp::HEADER_LEN;

/// Larger than any compound RTCP we expect; longer datagrams are truncated and refused.
const RTCP_BUF: usize = 1500;
/// At most this many reports are read per drain (a flood waits for the next one, or is dropped by the
/// kernel when the buffer fills).
const DRAIN_MAX: usize = 16;

/// The wall clock as NTP, once at engine start.
pub(super) fn ntp_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ntp_from_unix(unix)
}

/// The engine's CNAME (RFC 7022 §4.2: random, not tied to a user or host identity).
pub(super) fn cname(ip: IpAddr) -> Arc<str> {
    format!("{:016x}@{ip}", rand::random::<u64>()).into()
}

/// Binds the RTCP socket for the RTP port `rtp_port`, non-blocking.
pub(super) fn bind(ip: IpAddr, rtp_port: u16) -> io::Result<std::net::UdpSocket> {
    let port = rtp_port
        .checked_add(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no port above the RTP port"))?;
    let sock = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

fn take(st: &mut LegState, buf: &[u8], from: SocketAddr, muxed: bool, now_us: u64) {
    if st.rtcp.on_rtcp(buf, now_us).is_ok() && !muxed && st.rtcp_from.is_none() {
        // Symmetric RTCP (RFC 4961): answer to where the peer's reports really come from.
        st.rtcp_from = Some(from);
    }
}

/// A compound RTCP packet multiplexed on the RTP port (from the receive loop).
pub(super) fn on_rtcp(leg: &LegShared, buf: &[u8], from: SocketAddr, muxed: bool) {
    if !leg.engine.rtcp {
        return;
    }
    let now = leg.engine.elapsed_us();
    take(&mut lock(&leg.state), buf, from, muxed, now);
}

/// Reads what the peer sent to port + 1 since the last time, with the leg's state locked.
fn drain_locked(leg: &LegShared, st: &mut LegState, now_us: u64) {
    let Some(sock) = &leg.rtcp_socket else {
        return;
    };
    let mut buf = [0u8; RTCP_BUF];
    for _ in 0..DRAIN_MAX {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) if n < RTCP_BUF => {
                // SRTCP on an SRTP leg (RFC 3711 §3.4): authenticated and decrypted first.
                let n = match leg.srtp.is_on() {
                    true => match leg.srtp.unprotect_in_place(&mut buf, n) {
                        Some(l) => l,
                        None => continue,
                    },
                    false => n,
                };
                take(st, &buf[..n], from, false, now_us)
            }
            Ok(_) => {} // too long for any report we read
            // WouldBlock: drained. ICMP errors and the like: the socket stays usable.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {}
        }
    }
}

/// Reads the peer's pending reports (before the figures are read).
pub(super) fn drain(leg: &LegShared) {
    let now = leg.engine.elapsed_us();
    drain_locked(leg, &mut lock(&leg.state), now);
}

/// Where our reports go, and whether through the RTP socket (multiplexed).
fn target(st: &LegState) -> Option<(SocketAddr, bool)> {
    let remote = st.remote.as_ref()?;
    if remote.rtcp_mux {
        return st.target.map(|t| (t, true));
    }
    if let Some(from) = st.rtcp_from {
        return Some((from, false));
    }
    let plus_one = |t: SocketAddr| Some(SocketAddr::new(t.ip(), t.port().checked_add(1)?));
    match remote.rtcp {
        Some(a) if !a.ip().is_unspecified() => Some((a, false)),
        // No a=rtcp: RTP port + 1 of where the RTP goes (the latched source behind a NAT).
        _ => st.target.and_then(plus_one).map(|a| (a, false)),
    }
}

/// What we sent so far, for the SR's sender info (§6.4.1).
fn sender(leg: &LegShared, st: &LegState, now_us: u64) -> Option<SenderSnapshot> {
    let packets = leg.tx_packets.load(Ordering::Relaxed);
    let (ts, tick) = st.out.last_sent()?;
    if packets == 0 {
        return None;
    }
    let since_us = now_us.saturating_sub(tick * TICK.as_micros() as u64);
    Some(SenderSnapshot {
        packets,
        payload_octets: leg
            .tx_bytes
            .load(Ordering::Relaxed)
            .saturating_sub(packets * HEADER_LEN as u64),
        // 8 kHz: 8 ts units per ms.
        rtp_ts: ts.wrapping_add((since_us / 125) as u32),
    })
}

fn send(leg: &LegShared, wire: &[u8], to: SocketAddr, muxed: bool) {
    let fd = match (&leg.rtcp_socket, muxed) {
        (_, true) => leg.socket.as_raw_fd(),
        (Some(s), false) => s.as_raw_fd(),
        (None, false) => return,
    };
    // An SRTP leg's reports leave as SRTCP.
    let sealed;
    let wire = if leg.srtp.is_on() {
        match leg.srtp.protect(wire) {
            Some(p) => {
                sealed = p;
                &sealed[..]
            }
            None => return,
        }
    } else {
        wire
    };
    // RTCP is not counted in the leg's RTP figures (they are the SR's sender counts).
    let _ = crate::udp::send_batch(fd, &[(wire, to)]);
}

/// Our report fell due (from the pacing tick, the leg locked): read the peer's, then send ours.
pub(super) fn report_due(leg: &LegShared, st: &mut LegState) {
    let now = leg.engine.elapsed_us();
    drain_locked(leg, st, now);
    match target(st) {
        Some((to, muxed)) => {
            let snap = sender(leg, st, now);
            if let Some(wire) = st.rtcp.poll(now, snap, rand::random()) {
                send(leg, &wire, to, muxed);
            }
        }
        // Nobody to report to yet: try again an interval later.
        None => st.rtcp.postpone(now, rand::random()),
    }
}

/// The leg ends: a last report with BYE (RFC 3550 §6.3.7), when we have someone to send it to.
pub(super) fn bye(leg: &LegShared) {
    let now = leg.engine.elapsed_us();
    let mut st = lock(&leg.state);
    if st.rtcp.next_due_us().is_none() {
        return; // already said
    }
    let Some((to, muxed)) = target(&st) else {
        return;
    };
    let snap = sender(leg, &st, now);
    let wire = st.rtcp.bye(now, snap);
    drop(st);
    if let Some(wire) = wire {
        send(leg, &wire, to, muxed);
    }
}
