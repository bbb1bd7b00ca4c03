//! The I/O of a leg's RTCP session (the rules are in `crate::rtcp`): the socket on RTP port + 1,
//! one small tokio task per leg that sleeps until the next report is due or a report arrives,
//! RTCP multiplexed on the RTP port (RFC 5761) handed in by the receive loop, and the BYE when
//! the leg ends. Nothing here runs per RTP packet.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::{lock, LegShared, LegState, TICK};
use crate::rtcp::{ntp_from_unix, SenderSnapshot};
use crate::rtp::HEADER_LEN;

/// Larger than any compound RTCP we expect; longer datagrams are truncated and refused.
const RTCP_BUF: usize = 1500;

/// The wall clock as NTP, once at engine start.
pub(super) fn ntp_now() -> u64 {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ntp_from_unix(unix)
}

/// A CNAME per leg (RFC 7022 §4.2: random, not tied to a user or host identity).
pub(super) fn cname(ip: IpAddr) -> String {
    format!("{:016x}@{ip}", rand::random::<u64>())
}

/// Binds the RTCP socket for the RTP port `rtp_port`, readable interest only (see `open_leg`).
pub(super) fn bind(ip: IpAddr, rtp_port: u16) -> io::Result<AsyncFd<std::net::UdpSocket>> {
    let port = rtp_port
        .checked_add(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::AddrInUse, "no port above the RTP port"))?;
    let sock = std::net::UdpSocket::bind(SocketAddr::new(ip, port))?;
    sock.set_nonblocking(true)?;
    // SAFETY: as in `open_leg`: the AsyncFd owns the socket, whose fd stays open until then.
    unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

/// A compound RTCP packet from the peer, on port + 1 or multiplexed on the RTP port.
pub(super) fn on_rtcp(leg: &LegShared, buf: &[u8], from: SocketAddr, muxed: bool) {
    let now = leg.engine.elapsed_us();
    let mut st = lock(&leg.state);
    if st.rtcp.on_rtcp(buf, now).is_ok() && !muxed && st.rtcp_from.is_none() {
        // Symmetric RTCP (RFC 4961): answer to where the peer's reports really come from.
        st.rtcp_from = Some(from);
    }
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
    let fd = if muxed {
        leg.socket.as_raw_fd()
    } else {
        leg.rtcp_socket.as_raw_fd()
    };
    // RTCP is not counted in the leg's RTP figures (they are the SR's sender counts).
    let _ = crate::udp::send_batch(fd, &[(wire, to)]);
}

/// The report that is due, if one is.
fn report_due(leg: &LegShared) {
    let now = leg.engine.elapsed_us();
    let mut st = lock(&leg.state);
    let Some(due) = st.rtcp.next_due_us() else {
        return;
    };
    if now < due {
        return;
    }
    match target(&st) {
        Some((to, muxed)) => {
            let snap = sender(leg, &st, now);
            if let Some(wire) = st.rtcp.poll(now, snap, rand::random()) {
                drop(st);
                send(leg, &wire, to, muxed);
            }
        }
        // Nobody to report to yet (a leg still ringing): try again an interval later.
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
    send(leg, &wire, to, muxed);
}

/// One leg's RTCP task: reports at the interval, and the peer's reports on port + 1. Aborted
/// when the `MediaLeg` drops.
pub(super) async fn run(leg: Arc<LegShared>) {
    let mut buf = [0u8; RTCP_BUF];
    loop {
        if leg.closed.load(Ordering::Relaxed) {
            return;
        }
        let due = lock(&leg.state).rtcp.next_due_us();
        let wake = match due {
            Some(us) => leg.engine.epoch + Duration::from_micros(us),
            None => return,
        };
        tokio::select! {
            r = leg.rtcp_socket.readable() => {
                let Ok(mut ready) = r else {
                    tokio::task::yield_now().await;
                    continue;
                };
                loop {
                    match ready.try_io(|s| s.get_ref().recv_from(&mut buf)) {
                        Ok(Ok((n, from))) if n < RTCP_BUF => on_rtcp(&leg, &buf[..n], from, false),
                        Ok(Ok(_)) => {} // too long for any report of ours to read
                        // ICMP port unreachable and the like: the socket stays usable.
                        Ok(Err(_)) => break,
                        Err(_would_block) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => report_due(&leg),
        }
    }
}
