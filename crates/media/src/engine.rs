//! The shell around the sans-IO parts: UDP sockets from the RTP port range, one tokio receive task
//! per leg (which also relays), and one pacing thread per shard that drives every generated stream
//! (prompts, mixer output, queued DTMF).
//!
//! Pacing: each shard is one dedicated OS thread on a 500 µs slot grid anchored at the engine
//! epoch; every 20 ms tick is cut into 40 slots and each paced item lives in the least-loaded
//! slot, so a shard sends 1/40 of its streams per slot instead of one burst per tick (bursts
//! overflow receivers) and without one timer per stream. Threads rather than tokio tasks: tokio
//! timers fire on a 1 ms wheel (up to 1 ms late by design) and a pacing task waits behind
//! whatever else its worker runs, while `nanosleep` wakes within tens of µs and the scheduler
//! puts the thread on whichever core is free (measured: see BENCHMARKS.md). Empty slots are
//! skipped and an idle shard blocks on its queue. RTP timestamps come from the tick number,
//! never from wall time.
//!
//! RTCP (`rtcp_leg`): each leg also binds RTP port + 1; the pacing tick sends the leg's report when
//! it falls due and drains the peer's reports then; RTCP multiplexed on the RTP port (RFC 5761)
//! comes through the receive loop. Receive statistics are counted per RTP packet under the leg's
//! lock the relay takes anyway.

use std::collections::{HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use std::os::fd::AsRawFd;
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::dtmf::{self, DtmfReceiver};
use crate::g711;
use crate::mixer::{Mixer, PcmFrame};
use crate::prompt::{Prompt, FRAME_SAMPLES};
use crate::rtp::{self, OutStream, HEADER_LEN};
use crate::sdp::{Codec, Direction, Negotiated};

// RTCP per leg (RFC 3550 §6, RFC 5761): the socket on port + 1, reports, BYE.
mod rtcp_leg;

/// Slots per 20 ms tick: a pacing thread sends 1/40 of its streams every 500 µs.
const SLOTS: u64 = 40;
const SLOT_US: u64 = 500;
/// Further behind than this, the clock skips ahead instead of bursting the backlog out.
const CATCH_UP_LIMIT: Duration = Duration::from_millis(100);
const TICK: Duration = Duration::from_millis(20);
/// Pacing lateness histogram: 20 µs buckets up to 20 ms, then one overflow bucket.
const HIST_BUCKET_US: u64 = 20;
const HIST_BUCKETS: usize = 1001;
/// A slot served more than this late counts as a late tick.
const LATE_US: u64 = 2000;
const EVENT_QUEUE: usize = 64;

#[derive(Debug, Clone)]
pub struct MediaConfig {
    pub bind_ip: IpAddr,
    /// Inclusive range; only even ports are used for RTP (RFC 3550 §11).
    pub port_min: u16,
    pub port_max: u16,
    /// No RTP from a sendrecv leg for this long → [`MediaEvent::MediaTimeout`].
    pub media_timeout: Duration,
}

/// What a leg tells the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Dtmf {
        digit: char,
        duration_ms: u32,
    },
    /// A non-looped prompt played to its end.
    PromptFinished,
    /// No RTP for `media_timeout` while we expected some.
    MediaTimeout,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub active_legs: usize,
    /// Live mixes ([`conference`]s not yet dropped): the three-way calls in progress.
    pub conferences: usize,
    pub packets_in: u64,
    pub packets_out: u64,
    /// Packets dropped because a socket send failed (e.g. buffer full).
    pub send_errors: u64,
    /// Generated packets sent more than 2 ms after their slot.
    pub late_ticks: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LegStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub dtmf_digits: u64,
}

/// Distribution of how late generated packets left relative to their slot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacingReport {
    pub packets: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_bucket_us: u64,
    /// Fraction of packets that left within 2 ms of their slot.
    pub within_2ms: f64,
}

struct ShardStats {
    hist: Vec<AtomicU64>,
}

impl ShardStats {
    fn new() -> ShardStats {
        ShardStats {
            hist: (0..HIST_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

struct PortPool {
    min: u16,
    max: u16,
    next: u16,
    in_use: HashSet<u16>,
}

impl PortPool {
    /// The even ports of the range are handed out round robin from the last one, so a just-freed
    /// port (which may still receive the old call's packets) is reused last: (first even port,
    /// how many, the index to start from). Walked lazily by `open_leg` — building the whole list
    /// per leg was a fifth of the daemon's CPU at 2,000 calls/s with a 6,000-pair range.
    fn cycle(&self) -> Option<(u32, u32, u32)> {
        let first = u32::from(self.min) + u32::from(self.min & 1);
        let max = u32::from(self.max);
        if first > max {
            return None;
        }
        let count = (max - first) / 2 + 1;
        let next = u32::from(self.next);
        let start = if next < first || next > max {
            first
        } else {
            next
        };
        Some((first, count, (start - first) / 2))
    }
}

struct EngineInner {
    cfg: MediaConfig,
    epoch: Instant,
    /// The wall clock at `epoch` as NTP: RTCP timestamps follow the monotonic clock from there.
    ntp_epoch: u64,
    /// The SDES CNAME of every leg (random per engine run, RFC 7022 §4.2).
    cname: Arc<str>,
    /// [`EngineOptions::rtcp`].
    rtcp: bool,
    ports: Mutex<PortPool>,
    shards: Vec<mpsc::UnboundedSender<Paced>>,
    shard_stats: Vec<Arc<ShardStats>>,
    next_shard: AtomicUsize,
    active_legs: AtomicUsize,
    conferences: AtomicUsize,
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    send_errors: AtomicU64,
    late_ticks: AtomicU64,
}

impl EngineInner {
    /// The current 20 ms tick number (for relayed packets; generated ones get theirs from the clock).
    fn now_tick(&self) -> u64 {
        self.elapsed_us() / TICK.as_micros() as u64
    }

    /// µs since the engine epoch (the RTCP sessions' clock; a relayed packet's arrival time).
    fn elapsed_us(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.epoch)
            .as_micros() as u64
    }

    fn timeout_ticks(&self) -> u64 {
        (self.cfg.media_timeout.as_millis() / TICK.as_millis()).max(1) as u64
    }

    fn schedule(&self, item: Paced) {
        let i = self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        // A closed shard means the runtime is shutting down; nothing left to pace.
        let _ = self.shards[i].send(item);
    }
}

/// Tuning for [`MediaEngine::start_with`].
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Pacing threads; default: one per available core.
    pub shards: usize,
    /// Nice value for the pacing threads (best effort: needs root/CAP_SYS_NICE, silently kept
    /// otherwise). Default `Some(-10)`: their work per slot is bounded and small, and on a busy
    /// host a pacer waiting behind compile jobs or SIP bursts is what makes packets late
    /// (measured in BENCHMARKS.md). `None` leaves the priority alone.
    pub pacer_nice: Option<i32>,
    /// RTCP per leg (port + 1, reports, BYE; RFC 3550). Off: no RTCP port is bound and nothing is
    /// sent, multiplexed RTCP is dropped; the receive statistics are still counted. Default on.
    pub rtcp: bool,
}

impl Default for EngineOptions {
    fn default() -> EngineOptions {
        EngineOptions {
            shards: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 16),
            pacer_nice: Some(-10),
            rtcp: true,
        }
    }
}

/// Sets the calling thread's nice value; failure (no privilege) leaves it as it was.
fn raise_priority(nice: i32) {
    // SAFETY: plain syscalls on the calling thread's own id.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
    }
}

/// Shared handle to the media engine.
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<EngineInner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a media lock must not take every later packet down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MediaEngine {
    /// Starts the pacing shards (one per available core) on the current tokio runtime.
    pub async fn start(cfg: MediaConfig) -> io::Result<MediaEngine> {
        MediaEngine::start_with(cfg, EngineOptions::default()).await
    }

    /// As [`MediaEngine::start`], with an explicit number of pacing shards.
    pub async fn start_with_shards(cfg: MediaConfig, shards: usize) -> io::Result<MediaEngine> {
        let opts = EngineOptions {
            shards,
            ..EngineOptions::default()
        };
        MediaEngine::start_with(cfg, opts).await
    }

    /// As [`MediaEngine::start`], with explicit [`EngineOptions`].
    pub async fn start_with(cfg: MediaConfig, opts: EngineOptions) -> io::Result<MediaEngine> {
        let shards = opts.shards;
        let first_even = u32::from(cfg.port_min) + u32::from(cfg.port_min & 1);
        if cfg.port_min == 0 || first_even > u32::from(cfg.port_max) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "RTP port range {}-{} has no even port (or starts at 0)",
                    cfg.port_min, cfg.port_max
                ),
            ));
        }
        let epoch = Instant::now();
        let mut senders = Vec::new();
        let mut stats = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..shards.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            let s = Arc::new(ShardStats::new());
            stats.push(s.clone());
            receivers.push((rx, s));
        }
        let cfg_ip = cfg.bind_ip;
        let inner = Arc::new(EngineInner {
            ports: Mutex::new(PortPool {
                min: cfg.port_min,
                max: cfg.port_max,
                next: cfg.port_min,
                in_use: HashSet::new(),
            }),
            cfg,
            epoch,
            ntp_epoch: rtcp_leg::ntp_now(),
            cname: rtcp_leg::cname(cfg_ip),
            rtcp: opts.rtcp,
            shards: senders,
            shard_stats: stats,
            next_shard: AtomicUsize::new(0),
            active_legs: AtomicUsize::new(0),
            conferences: AtomicUsize::new(0),
            packets_in: AtomicU64::new(0),
            packets_out: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            late_ticks: AtomicU64::new(0),
        });
        for (rx, s) in receivers {
            let engine = Arc::downgrade(&inner);
            let nice = opts.pacer_nice;
            std::thread::Builder::new()
                .name("media-pacer".into())
                .spawn(move || {
                    if let Some(n) = nice {
                        raise_priority(n);
                    }
                    run_shard(engine, epoch, rx, s)
                })?;
        }
        Ok(MediaEngine { inner })
    }

    /// Opens a leg on the next free even port of the range.
    pub async fn open_leg(&self) -> io::Result<MediaLeg> {
        let cycle = lock(&self.inner.ports).cycle();
        let (first, count, start) = cycle.unwrap_or((0, 0, 0));
        let mut last_err = None;
        for i in 0..count {
            let Ok(port) = u16::try_from(first + ((start + i) % count) * 2) else {
                break;
            };
            if lock(&self.inner.ports).in_use.contains(&port) {
                continue;
            }
            let addr = SocketAddr::new(self.inner.cfg.bind_ip, port);
            match std::net::UdpSocket::bind(addr) {
                Ok(sock) => {
                    // RTCP on port + 1 (RFC 3550 §11); taken by someone else: try the next pair.
                    let rtcp = if self.inner.rtcp {
                        match rtcp_leg::bind(self.inner.cfg.bind_ip, port) {
                            Ok(r) => Some(r),
                            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                                last_err = Some(e);
                                continue;
                            }
                            Err(e) => return Err(e),
                        }
                    } else {
                        None
                    };
                    {
                        let mut pool = lock(&self.inner.ports);
                        if !pool.in_use.insert(port) {
                            continue; // bookkeeping says taken (a leg still draining); try the next
                        }
                        pool.next = port.wrapping_add(2);
                    }
                    sock.set_nonblocking(true)?;
                    // Readable interest only: with EPOLLOUT registered too, every datagram sent
                    // would wake the runtime's I/O driver through the socket's write-space
                    // callback (measured: the largest kernel cost of the mixer path).
                    // SAFETY: the std socket owns its fd, which stays open and the same until
                    // the AsyncFd (which owns the socket) is dropped.
                    let socket =
                        unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }
                            .map_err(|e| e.into_parts().1)?;
                    return Ok(self.make_leg(socket, rtcp, port));
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "RTP port range {}-{} exhausted{}",
                self.inner.cfg.port_min,
                self.inner.cfg.port_max,
                last_err.map(|e| format!(" ({e})")).unwrap_or_default()
            ),
        ))
    }

    fn make_leg(
        &self,
        socket: AsyncFd<std::net::UdpSocket>,
        rtcp_socket: Option<std::net::UdpSocket>,
        port: u16,
    ) -> MediaLeg {
        let local = socket
            .get_ref()
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::new(self.inner.cfg.bind_ip, port));
        let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
        let shared = Arc::new(LegShared {
            engine: self.inner.clone(),
            socket,
            rtcp_socket,
            port,
            local,
            closed: AtomicBool::new(false),
            events: ev_tx,
            rx_packets: AtomicU64::new(0),
            tx_packets: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            dtmf_digits: AtomicU64::new(0),
            last_rx_tick: AtomicU64::new(self.inner.now_tick()),
            state: Mutex::new(LegState::new(&self.inner)),
            srtp: Default::default(),
        });
        self.inner.active_legs.fetch_add(1, Ordering::Relaxed);
        self.inner.schedule(Paced::Leg(shared.clone()));
        let recv = tokio::spawn(recv_loop(shared.clone()));
        MediaLeg {
            shared,
            events: ev_rx,
            recv,
        }
    }

    pub fn stats(&self) -> EngineStats {
        let i = &self.inner;
        EngineStats {
            active_legs: i.active_legs.load(Ordering::Relaxed),
            conferences: i.conferences.load(Ordering::Relaxed),
            packets_in: i.packets_in.load(Ordering::Relaxed),
            packets_out: i.packets_out.load(Ordering::Relaxed),
            send_errors: i.send_errors.load(Ordering::Relaxed),
            late_ticks: i.late_ticks.load(Ordering::Relaxed),
        }
    }

    /// Lateness of generated packets against their slot since start (or the last reset).
    pub fn pacing_report(&self) -> PacingReport {
        let mut buckets = vec![0u64; HIST_BUCKETS];
        for s in &self.inner.shard_stats {
            for (b, h) in buckets.iter_mut().zip(s.hist.iter()) {
                *b += h.load(Ordering::Relaxed);
            }
        }
        let total: u64 = buckets.iter().sum();
        if total == 0 {
            return PacingReport::default();
        }
        let pct = |p: f64| {
            let want = (total as f64 * p).ceil() as u64;
            let mut acc = 0;
            for (i, b) in buckets.iter().enumerate() {
                acc += b;
                if acc >= want {
                    return (i as u64 + 1) * HIST_BUCKET_US;
                }
            }
            HIST_BUCKETS as u64 * HIST_BUCKET_US
        };
        let within: u64 = buckets[..(LATE_US / HIST_BUCKET_US) as usize].iter().sum();
        let max_bucket = buckets.iter().rposition(|b| *b > 0).unwrap_or(0) as u64;
        PacingReport {
            packets: total,
            p50_us: pct(0.5),
            p99_us: pct(0.99),
            max_bucket_us: (max_bucket + 1) * HIST_BUCKET_US,
            within_2ms: within as f64 / total as f64,
        }
    }

    pub fn reset_pacing_report(&self) {
        for s in &self.inner.shard_stats {
            for h in &s.hist {
                h.store(0, Ordering::Relaxed);
            }
        }
    }
}

struct Playback {
    prompt: Arc<Prompt>,
    pos: usize,
    looped: bool,
    /// A DTMF digit from the peer stops the prompt (menus: the caller need not hear it out).
    barge_in: bool,
}

struct Membership {
    conf: Arc<ConfShared>,
    party: usize,
}

struct LegState {
    remote: Option<Negotiated>,
    /// Where we send: the SDP address until the peer's first packet, then its real source.
    target: Option<SocketAddr>,
    latched: bool,
    out: OutStream,
    play: Option<Playback>,
    peer: Option<Weak<LegShared>>,
    conference: Option<Membership>,
    dtmf_rx: DtmfReceiver,
    /// Queued RFC 4733 packets we generate, one per tick, all with `dtmf_ts`.
    dtmf_out: VecDeque<(bool, [u8; 4])>,
    dtmf_ts: Option<u32>,
    timed_out: bool,
    /// This leg's RTCP session; its receive statistics are counted per RTP packet.
    rtcp: crate::rtcp::RtcpSession,
    /// Where the peer's RTCP comes from (symmetric RTCP, RFC 4961), once it came.
    rtcp_from: Option<SocketAddr>,
}

impl LegState {
    fn new(engine: &EngineInner) -> LegState {
        let ssrc = rand::random();
        let mut rtcp = crate::rtcp::RtcpSession::new(ssrc, engine.cname.clone(), engine.ntp_epoch);
        if engine.rtcp {
            rtcp.start(engine.elapsed_us(), rand::random());
        }
        LegState {
            rtcp,
            rtcp_from: None,
            remote: None,
            target: None,
            latched: false,
            out: OutStream::new(ssrc, rand::random(), rand::random()),
            play: None,
            peer: None,
            conference: None,
            dtmf_rx: DtmfReceiver::new(),
            dtmf_out: VecDeque::new(),
            dtmf_ts: None,
            timed_out: false,
        }
    }

    fn sends(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.direction.sends())
    }
}

struct LegShared {
    engine: Arc<EngineInner>,
    socket: AsyncFd<std::net::UdpSocket>,
    /// RTCP on port + 1 (unused by a peer that multiplexes, RFC 5761).
    /// Not registered with the runtime: drained when our report is due and when the figures are read
    /// (a peer reports every few seconds; a wake-up per report is not worth a task per leg).
    /// `None` with RTCP off.
    rtcp_socket: Option<std::net::UdpSocket>,
    port: u16,
    local: SocketAddr,
    closed: AtomicBool,
    events: mpsc::Sender<MediaEvent>,
    rx_packets: AtomicU64,
    tx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_bytes: AtomicU64,
    dtmf_digits: AtomicU64,
    last_rx_tick: AtomicU64,
    state: Mutex<LegState>,
    /// SDES-keyed SRTP of a seat leg on TLS (`srtp.rs`); off for every other leg.
    srtp: crate::srtp::LegSrtp,
}

impl Drop for LegShared {
    fn drop(&mut self) {
        // Last reference gone: the socket closes with us, so the port can be handed out again.
        lock(&self.engine.ports).in_use.remove(&self.port);
        self.engine.active_legs.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LegShared {
    /// Sends one datagram now, from any thread (the pacing threads are outside the runtime): a
    /// raw non-blocking send; a full socket buffer drops the packet, as the network would.
    fn send(&self, buf: &[u8], to: SocketAddr) {
        let sealed;
        let buf = if self.srtp.is_on() {
            match self.srtp.protect(buf) {
                Some(p) => {
                    sealed = p;
                    &sealed[..]
                }
                None => return,
            }
        } else {
            buf
        };
        match crate::udp::send_batch(self.socket.as_raw_fd(), &[(buf, to)]) {
            1 => {
                self.tx_packets.fetch_add(1, Ordering::Relaxed);
                self.tx_bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                self.engine.packets_out.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.engine.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn emit(&self, ev: MediaEvent) {
        // A call that stopped reading its events loses them rather than stalling media.
        let _ = self.events.try_send(ev);
    }

    /// One pacing tick for this leg: timeout check, queued DTMF, or the next prompt frame.
    fn on_tick(&self, tick: u64) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let mut st = lock(&self.state);
        let Some(remote) = st.remote.clone() else {
            return true;
        };
        // An RTCP report due (every few seconds): one comparison per tick otherwise.
        if st
            .rtcp
            .next_due_us()
            .is_some_and(|due| tick * TICK.as_micros() as u64 >= due)
        {
            rtcp_leg::report_due(self, &mut st);
        }
        if remote.direction == Direction::SendRecv && !st.timed_out {
            let last = self.last_rx_tick.load(Ordering::Relaxed);
            if tick.saturating_sub(last) > self.engine.timeout_ticks() {
                st.timed_out = true;
                self.emit(MediaEvent::MediaTimeout);
            }
        }
        let mut buf = [0u8; HEADER_LEN + FRAME_SAMPLES];
        if let Some((first, payload)) = st.dtmf_out.pop_front() {
            if let (Some(pt), Some(to)) = (remote.dtmf_pt, st.target) {
                let h = st.out.next_generated(tick);
                let ts = if first {
                    st.dtmf_ts = Some(h.ts);
                    h.ts
                } else {
                    st.dtmf_ts.unwrap_or(h.ts)
                };
                rtp::write_header(&mut buf, first, pt, h.seq, ts, h.ssrc);
                buf[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&payload);
                if remote.direction.sends() {
                    self.send(&buf[..HEADER_LEN + 4], to);
                }
            }
            if st.dtmf_out.is_empty() {
                st.out.mark_switch();
            }
            return true;
        }
        let Some(play) = st.play.as_mut() else {
            return true;
        };
        let frame = play.prompt.frame(remote.codec, play.pos).copied();
        play.pos += 1;
        let mut finished = false;
        if play.pos >= play.prompt.frame_count() {
            if play.looped {
                play.pos = 0;
            } else {
                st.play = None;
                finished = true;
            }
        }
        if let (Some(frame), Some(to), true) = (frame, st.target, remote.direction.sends()) {
            let h = st.out.next_generated(tick);
            rtp::write_header(&mut buf, h.marker, remote.pt, h.seq, h.ts, h.ssrc);
            buf[HEADER_LEN..].copy_from_slice(&frame);
            self.send(&buf, to);
        }
        drop(st);
        if finished {
            self.emit(MediaEvent::PromptFinished);
        }
        true
    }
}

/// Something the pacing clock drives.
enum Paced {
    Leg(Arc<LegShared>),
    Conference(Arc<ConfShared>),
}

impl Paced {
    fn on_tick(&self, tick: u64) -> bool {
        match self {
            Paced::Leg(l) => l.on_tick(tick),
            Paced::Conference(c) => c.on_tick(tick),
        }
    }
}

/// Index of the first slot boundary after `now` (slots of `SLOT_US` since the epoch).
fn next_slot(epoch: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(epoch).as_micros() as u64 / SLOT_US + 1
}

fn slot_deadline(epoch: Instant, k: u64) -> Instant {
    epoch + Duration::from_micros(k * SLOT_US)
}

/// One pacing thread. Exits when the engine and every item it paces are gone.
fn run_shard(
    engine: Weak<EngineInner>,
    epoch: Instant,
    mut rx: mpsc::UnboundedReceiver<Paced>,
    stats: Arc<ShardStats>,
) {
    let mut slots: Vec<Vec<Paced>> = (0..SLOTS).map(|_| Vec::new()).collect();
    let mut items = 0usize;
    let mut k = next_slot(epoch, Instant::now());
    loop {
        if items == 0 {
            // Nothing to pace: block on the queue instead of waking every slot.
            match rx.blocking_recv() {
                Some(item) => {
                    slots[0].push(item);
                    items = 1;
                    k = next_slot(epoch, Instant::now());
                }
                None => return,
            }
        }
        // Skip empty slots so a lightly loaded shard does not wake 2,000 times a second.
        let mut skipped = 0;
        while slots[(k % SLOTS) as usize].is_empty() && skipped < SLOTS {
            k += 1;
            skipped += 1;
        }
        let deadline = slot_deadline(epoch, k);
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        } else if now - deadline > CATCH_UP_LIMIT {
            // Stalled (suspended VM, overload): skip ahead rather than burst a backlog; the
            // streams' timestamps follow the tick number, and the gap gets a marker bit.
            k = next_slot(epoch, now);
            continue;
        }
        loop {
            match rx.try_recv() {
                Ok(item) => {
                    if let Some(slot) = slots.iter_mut().min_by_key(|s| s.len()) {
                        slot.push(item);
                        items += 1;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    if items == 0 {
                        return;
                    }
                    break;
                }
            }
        }
        let slot = &mut slots[(k % SLOTS) as usize];
        let tick = k / SLOTS;
        k += 1;
        if slot.is_empty() {
            continue;
        }
        let before = slot.len();
        slot.retain(|item| item.on_tick(tick));
        items -= before - slot.len();
        // One lateness sample per item served: when this slot's work finished.
        let late_us = Instant::now()
            .saturating_duration_since(deadline)
            .as_micros() as u64;
        let bucket = ((late_us / HIST_BUCKET_US) as usize).min(HIST_BUCKETS - 1);
        stats.hist[bucket].fetch_add(before as u64, Ordering::Relaxed);
        if late_us > LATE_US {
            if let Some(e) = engine.upgrade() {
                e.late_ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

thread_local! {
    static RECV_BATCH: std::cell::RefCell<crate::udp::RecvBatch> =
        std::cell::RefCell::new(crate::udp::RecvBatch::new());
}

async fn recv_loop(leg: Arc<LegShared>) {
    let fd = leg.socket.as_raw_fd();
    loop {
        if leg.closed.load(Ordering::Relaxed) {
            return;
        }
        let mut ready = match leg.socket.readable().await {
            Ok(r) => r,
            Err(_) => {
                tokio::task::yield_now().await;
                continue;
            }
        };
        let r = ready.try_io(|_| {
            RECV_BATCH.with(|cell| {
                let mut guard = cell.borrow_mut();
                let b = &mut *guard;
                let n = crate::udp::recv_batch(fd, b)?;
                let mut out: [Option<(Arc<LegShared>, SocketAddr)>; crate::udp::BATCH] =
                    std::array::from_fn(|_| None);
                for (i, slot) in out.iter_mut().enumerate().take(n) {
                    if let (Some(from), len @ 1..) = (b.from[i], b.lens[i]) {
                        // SRTP legs: decrypt on the way in, and encrypt for an SRTP peer on the way out.
                        let len = match leg.srtp.is_on() {
                            true => match leg.srtp.unprotect_in_place(&mut b.bufs[i], len) {
                                Some(l) => l,
                                None => continue,
                            },
                            false => len,
                        };
                        *slot = on_packet(&leg, &mut b.bufs[i][..len], from);
                        if let Some((peer, _)) = slot.as_ref().filter(|(p, _)| p.srtp.is_on()) {
                            match peer.srtp.protect_in_place(&mut b.bufs[i], len) {
                                Some(l) => b.lens[i] = l,
                                None => *slot = None,
                            }
                        } else if slot.is_some() {
                            b.lens[i] = len;
                        }
                    }
                }
                flush_relayed(b, &out[..n]);
                if n < crate::udp::BATCH {
                    // A short batch drained the queue: let tokio clear readiness now instead of
                    // paying one more syscall for EWOULDBLOCK. A datagram that arrived meanwhile
                    // has bumped the readiness tick, so it is not missed.
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            })
        });
        drop(ready);
        match r {
            Ok(Ok(())) | Err(_) => {}
            // ICMP errors and the like: the socket stays usable.
            Ok(Err(_)) => tokio::task::yield_now().await,
        }
    }
}

/// Sends the relayed datagrams of one receive batch: runs going out of the same leg leave in one
/// `sendmmsg`.
fn flush_relayed(b: &crate::udp::RecvBatch, out: &[Option<(Arc<LegShared>, SocketAddr)>]) {
    let mut i = 0;
    while i < out.len() {
        let Some((leg, _)) = &out[i] else {
            i += 1;
            continue;
        };
        let mut msgs: [(&[u8], SocketAddr); crate::udp::BATCH] =
            [(&[], SocketAddr::from(([0, 0, 0, 0], 0))); crate::udp::BATCH];
        let mut k = 0;
        let mut j = i;
        while j < out.len() {
            match &out[j] {
                Some((l, to)) if Arc::ptr_eq(l, leg) => {
                    msgs[k] = (&b.bufs[j][..b.lens[j]], *to);
                    k += 1;
                }
                Some(_) => break,
                None => {}
            }
            j += 1;
        }
        let sent = crate::udp::send_batch(leg.socket.as_raw_fd(), &msgs[..k]);
        let bytes: usize = msgs[..sent].iter().map(|(m, _)| m.len()).sum();
        leg.tx_packets.fetch_add(sent as u64, Ordering::Relaxed);
        leg.tx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        leg.engine
            .packets_out
            .fetch_add(sent as u64, Ordering::Relaxed);
        leg.engine
            .send_errors
            .fetch_add((k - sent) as u64, Ordering::Relaxed);
        i = j;
    }
}

fn decode_frame(codec: Codec, payload: &[u8]) -> PcmFrame {
    let table = match codec {
        Codec::Pcmu => &g711::ULAW_TO_LINEAR,
        Codec::Pcma => &g711::ALAW_TO_LINEAR,
    };
    let mut f = [0i16; FRAME_SAMPLES];
    for (o, b) in f.iter_mut().zip(payload.iter()) {
        *o = table[*b as usize];
    }
    f
}

/// Handles one datagram received on `leg`. Returns the bridged leg and address the (rewritten)
/// datagram must be relayed to, if any.
fn on_packet(
    leg: &LegShared,
    buf: &mut [u8],
    from: SocketAddr,
) -> Option<(Arc<LegShared>, SocketAddr)> {
    if rtp::is_rtcp(buf) {
        // RTCP is terminated here: each leg is its own RTP session towards its peer (RFC 5761
        // §4: on a multiplexed port, RTCP is told from RTP by the second byte).
        rtcp_leg::on_rtcp(leg, buf, from, true);
        return None;
    }
    let h = rtp::parse(buf)?;
    let eng = &leg.engine;
    let now_us = eng.elapsed_us();
    let tick = now_us / TICK.as_micros() as u64;
    leg.rx_packets.fetch_add(1, Ordering::Relaxed);
    leg.rx_bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
    eng.packets_in.fetch_add(1, Ordering::Relaxed);
    leg.last_rx_tick.store(tick, Ordering::Relaxed);

    enum Then {
        Forward(Arc<LegShared>, Option<Codec>),
        Mix(Arc<ConfShared>, usize, Codec),
        Nothing,
    }
    let mut digit = None;
    let then = {
        let mut st = lock(&leg.state);
        st.timed_out = false;
        if !st.latched {
            // Symmetric RTP: answer to where the peer really sends from (NAT).
            st.target = Some(from);
            st.latched = true;
        }
        let remote = st.remote.clone()?;
        // RFC 3550 A.1/A.3/A.8: seq, loss and jitter; arrival on the 8 kHz RTP clock.
        let arrival = (now_us / 125) as u32;
        st.rtcp
            .rx
            .on_rtp(h.ssrc, h.seq, h.ts, arrival, h.pt == remote.pt);
        if !remote.direction.receives() {
            return None;
        }
        let is_dtmf = remote.dtmf_pt == Some(h.pt);
        if is_dtmf {
            digit = st
                .dtmf_rx
                .on_packet(h.ts, &buf[h.payload_start..h.payload_end]);
            if digit.is_some() && st.play.as_ref().is_some_and(|p| p.barge_in) {
                st.play = None;
                st.out.mark_switch();
            }
        } else if h.pt != remote.pt {
            return None; // comfort noise and anything else we did not negotiate
        }
        match (&st.conference, &st.peer) {
            (Some(m), _) if !is_dtmf => Then::Mix(m.conf.clone(), m.party, remote.codec),
            (Some(_), _) => Then::Nothing,
            (None, Some(p)) => match p.upgrade() {
                Some(peer) => Then::Forward(peer, (!is_dtmf).then_some(remote.codec)),
                None => Then::Nothing,
            },
            (None, None) => Then::Nothing,
        }
    };
    if let Some(d) = digit {
        leg.dtmf_digits.fetch_add(1, Ordering::Relaxed);
        leg.emit(MediaEvent::Dtmf {
            digit: d.digit,
            duration_ms: d.duration_ms,
        });
    }
    match then {
        Then::Forward(peer, codec) => {
            forward(&peer, buf, &h, codec, tick).map(|target| (peer, target))
        }
        Then::Mix(conf, party, codec) => {
            let frame = decode_frame(codec, &buf[h.payload_start..h.payload_end]);
            lock(&conf.state).mixer.push(party, h.seq, &frame);
            None
        }
        Then::Nothing => None,
    }
}

/// Relays a packet received on one leg out of `to` (its bridged peer): PT mapped to `to`'s
/// negotiation, μ/A-law transcoded when the legs differ, SSRC/seq/ts rewritten in place.
/// `audio` is the source codec for audio packets, `None` for telephone-events.
/// Returns where to send the rewritten `buf` from `to`'s socket (the caller sends, so a batch
/// can leave in one syscall).
fn forward(
    to: &LegShared,
    buf: &mut [u8],
    h: &rtp::RtpHeader,
    audio: Option<Codec>,
    tick: u64,
) -> Option<SocketAddr> {
    let (target, hdr, pt) = {
        let mut st = lock(&to.state);
        if st.play.is_some() || st.conference.is_some() || !st.dtmf_out.is_empty() || !st.sends() {
            return None; // a prompt, the mixer or our own DTMF owns this leg's output now
        }
        let (Some(remote), Some(target)) = (st.remote.as_ref(), st.target) else {
            return None;
        };
        let pt = match audio {
            Some(src) => {
                let payload = &mut buf[h.payload_start..h.payload_end];
                match (src, remote.codec) {
                    (Codec::Pcmu, Codec::Pcma) => g711::ulaw_to_alaw_in_place(payload),
                    (Codec::Pcma, Codec::Pcmu) => g711::alaw_to_ulaw_in_place(payload),
                    _ => {}
                }
                remote.pt
            }
            None => remote.dtmf_pt?, // None: the other side cannot take telephone-events
        };
        let hdr = st.out.relay(tick, h.ssrc, h.seq, h.ts, h.marker);
        (target, hdr, pt)
    };
    rtp::rewrite_in_place(buf, hdr.marker, pt, hdr.seq, hdr.ts, hdr.ssrc);
    Some(target)
}

/// A call leg's media: one UDP port, one outgoing RTP stream. Dropping it stops everything.
pub struct MediaLeg {
    shared: Arc<LegShared>,
    events: mpsc::Receiver<MediaEvent>,
    recv: JoinHandle<()>,
}

impl Drop for MediaLeg {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        self.recv.abort();
        rtcp_leg::bye(&self.shared);
        let mut st = lock(&self.shared.state);
        st.peer = None;
        st.play = None;
        st.conference = None;
    }
}

impl MediaLeg {
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    /// Applies a (re-)negotiation: codec, PTs, direction (hold/resume) and the peer address. A
    /// changed address is used at once and re-latched from the next packet received.
    pub fn set_remote(&self, n: &Negotiated) {
        let mut st = lock(&self.shared.state);
        let addr_changed = st.remote.as_ref().map(|r| r.remote) != Some(n.remote);
        let dir_changed = st.remote.as_ref().map(|r| r.direction) != Some(n.direction);
        if addr_changed {
            st.target =
                (!n.remote.ip().is_unspecified() && n.remote.port() != 0).then_some(n.remote);
            st.latched = false;
            st.rtcp_from = None;
        }
        if dir_changed {
            st.out.mark_switch();
        }
        st.remote = Some(n.clone());
        st.timed_out = false;
        self.shared
            .last_rx_tick
            .store(self.shared.engine.now_tick(), Ordering::Relaxed);
    }

    /// Plays `prompt` (replacing whatever plays), in the leg's negotiated codec, on the leg's
    /// one RTP stream. A looped prompt plays until [`MediaLeg::stop_playing`] or another `play`.
    pub fn play(&self, prompt: Arc<Prompt>, looped: bool) {
        self.start_playback(prompt, looped, false);
    }

    /// As [`MediaLeg::play`], but the first DTMF digit received stops the prompt (the digit is
    /// still reported as [`MediaEvent::Dtmf`]; no `PromptFinished` follows).
    pub fn play_with_barge_in(&self, prompt: Arc<Prompt>, looped: bool) {
        self.start_playback(prompt, looped, true);
    }

    fn start_playback(&self, prompt: Arc<Prompt>, looped: bool, barge_in: bool) {
        let mut st = lock(&self.shared.state);
        st.play = Some(Playback {
            prompt,
            pos: 0,
            looped,
            barge_in,
        });
        st.out.mark_switch();
    }

    pub fn stop_playing(&self) {
        let mut st = lock(&self.shared.state);
        if st.play.take().is_some() {
            st.out.mark_switch();
        }
    }

    pub fn is_playing(&self) -> bool {
        lock(&self.shared.state).play.is_some()
    }

    /// Sends a digit as RFC 4733 telephone-events (one packet per 20 ms tick). Returns false when
    /// the peer did not negotiate telephone-event (the call should send SIP INFO instead).
    pub fn send_dtmf(&self, digit: char, duration_ms: u32) -> bool {
        let Some(event) = dtmf::char_to_event(digit) else {
            return false;
        };
        let mut st = lock(&self.shared.state);
        if st.remote.as_ref().and_then(|r| r.dtmf_pt).is_none() {
            return false;
        }
        st.dtmf_out
            .extend(dtmf::rfc4733_packets(event, duration_ms, 10));
        true
    }

    /// The next event for the call; `None` never happens while the leg exists.
    pub async fn next_event(&mut self) -> Option<MediaEvent> {
        self.events.recv().await
    }

    /// Poll form of [`MediaLeg::next_event`], for a shell that waits on many legs at once.
    pub fn poll_event(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<MediaEvent>> {
        self.events.poll_recv(cx)
    }

    /// Non-blocking variant of [`MediaLeg::next_event`].
    pub fn try_next_event(&mut self) -> Option<MediaEvent> {
        self.events.try_recv().ok()
    }

    pub fn stats(&self) -> LegStats {
        let s = &self.shared;
        LegStats {
            rx_packets: s.rx_packets.load(Ordering::Relaxed),
            tx_packets: s.tx_packets.load(Ordering::Relaxed),
            rx_bytes: s.rx_bytes.load(Ordering::Relaxed),
            tx_bytes: s.tx_bytes.load(Ordering::Relaxed),
            dtmf_digits: s.dtmf_digits.load(Ordering::Relaxed),
        }
    }

    /// The leg's RTCP figures now (RFC 3550 receive statistics, the peer's last report about our
    /// stream, round trip, estimated MOS): read them when the leg ends, for the call record.
    pub fn quality(&self) -> crate::rtcp::LegQualityReport {
        rtcp_leg::drain(&self.shared);
        lock(&self.shared.state).rtcp.quality()
    }

    /// Protect what this leg sends and unprotect what it receives with SDES keys (ours, the peer's: see
    /// [`crate::sdp::SdpSession::srtp_keys`]), or plain RTP again with None. Packets that do not authenticate
    /// are dropped and counted ([`MediaLeg::srtp_failures`]).
    pub fn set_srtp(
        &self,
        keys: Option<(&crate::srtp::SdesKey, &crate::srtp::SdesKey)>,
    ) -> Result<(), crate::srtp::SrtpError> {
        self.shared.srtp.set(keys)
    }

    /// SRTP packets dropped on this leg (failed authentication or replay).
    pub fn srtp_failures(&self) -> u64 {
        self.shared.srtp.failures.load(Ordering::Relaxed)
    }

    /// What the last [`MediaLeg::set_remote`] agreed (e.g. whether the peer takes
    /// telephone-events, or DTMF must go to it as SIP INFO).
    pub fn negotiated(&self) -> Option<Negotiated> {
        lock(&self.shared.state).remote.clone()
    }

    /// Where this leg sends now: the SDP address, or the latched source of the peer's packets.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        lock(&self.shared.state).target
    }

    /// The SSRC of this leg's outgoing stream (stable for the leg's life).
    pub fn ssrc(&self) -> u32 {
        lock(&self.shared.state).out.ssrc()
    }
}

/// Relays `a` ⇄ `b`: each direction rewritten to the receiving leg's SSRC/seq/ts and payload
/// types, μ/A-law transcoded when they differ, telephone-events forwarded as the other leg
/// negotiated them. Stops prompts on both legs.
pub fn bridge(a: &MediaLeg, b: &MediaLeg) {
    for (x, y) in [(a, b), (b, a)] {
        let mut st = lock(&x.shared.state);
        st.peer = Some(Arc::downgrade(&y.shared));
        if st.play.take().is_some() {
            st.out.mark_switch();
        }
    }
}

/// Ends a relay set up by [`bridge`].
pub fn unbridge(a: &MediaLeg, b: &MediaLeg) {
    for (x, y) in [(a, b), (b, a)] {
        let mut st = lock(&x.shared.state);
        if st
            .peer
            .as_ref()
            .is_some_and(|p| std::ptr::eq(p.as_ptr(), Arc::as_ptr(&y.shared)))
        {
            st.peer = None;
            st.out.mark_switch();
        }
    }
}

struct ConfState {
    mixer: Mixer,
    members: Vec<Weak<LegShared>>,
}

struct ConfShared {
    closed: AtomicBool,
    state: Mutex<ConfState>,
}

impl ConfShared {
    fn on_tick(&self, tick: u64) -> bool {
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        let mut cs = lock(&self.state);
        let n = cs.members.len();
        let mut outs = vec![[0i16; FRAME_SAMPLES]; n];
        cs.mixer.mix(&mut outs);
        let mut buf = [0u8; HEADER_LEN + FRAME_SAMPLES];
        for (member, pcm) in cs.members.iter().zip(outs.iter()) {
            let Some(leg) = member.upgrade() else {
                continue;
            };
            let (to, h, pt) = {
                let mut st = lock(&leg.state);
                if st.play.is_some() || !st.dtmf_out.is_empty() || !st.sends() {
                    continue;
                }
                let (Some(remote), Some(to)) = (st.remote.clone(), st.target) else {
                    continue;
                };
                let payload = &mut buf[HEADER_LEN..];
                match remote.codec {
                    Codec::Pcmu => {
                        for (o, s) in payload.iter_mut().zip(pcm.iter()) {
                            *o = g711::linear_to_ulaw(*s);
                        }
                    }
                    Codec::Pcma => {
                        for (o, s) in payload.iter_mut().zip(pcm.iter()) {
                            *o = g711::linear_to_alaw(*s);
                        }
                    }
                }
                (to, st.out.next_generated(tick), remote.pt)
            };
            rtp::write_header(&mut buf, h.marker, pt, h.seq, h.ts, h.ssrc);
            leg.send(&buf, to);
        }
        true
    }
}

/// An N-party mix: each member hears everyone but itself. Dropping it ends the mix (members fall
/// silent until bridged or given a prompt again).
pub struct Conference {
    shared: Arc<ConfShared>,
    members: Vec<Weak<LegShared>>,
    /// Counted in [`EngineStats::conferences`] while it lives (none for an empty leg list).
    engine: Option<Arc<EngineInner>>,
}

impl Drop for Conference {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        if let Some(e) = &self.engine {
            e.conferences.fetch_sub(1, Ordering::Relaxed);
        }
        for m in &self.members {
            if let Some(leg) = m.upgrade() {
                let mut st = lock(&leg.state);
                if st
                    .conference
                    .as_ref()
                    .is_some_and(|c| Arc::ptr_eq(&c.conf, &self.shared))
                {
                    st.conference = None;
                    st.out.mark_switch();
                }
            }
        }
    }
}

/// Starts mixing `legs`: bridges between them are superseded and their prompts stopped (a prompt
/// played on a member later takes priority over the mix for that member). Needs at least one
/// leg; two work but [`bridge`] is cheaper. For the transfer: caller+operator bridged → play a
/// ringing prompt to the caller → on answer `conference(&[caller, operator, dept])` → when the
/// operator leaves, drop the `Conference` and `bridge(caller, dept)`.
pub fn conference(legs: &[&MediaLeg]) -> Conference {
    let members: Vec<Weak<LegShared>> = legs.iter().map(|l| Arc::downgrade(&l.shared)).collect();
    let shared = Arc::new(ConfShared {
        closed: AtomicBool::new(false),
        state: Mutex::new(ConfState {
            mixer: Mixer::new(legs.len(), 2, 6),
            members: members.clone(),
        }),
    });
    for (i, l) in legs.iter().enumerate() {
        let mut st = lock(&l.shared.state);
        st.peer = None;
        st.play = None;
        st.conference = Some(Membership {
            conf: shared.clone(),
            party: i,
        });
        st.out.mark_switch();
    }
    let engine = legs.first().map(|first| first.shared.engine.clone());
    if let Some(e) = &engine {
        e.conferences.fetch_add(1, Ordering::Relaxed);
        e.schedule(Paced::Conference(shared.clone()));
    }
    Conference {
        shared,
        members,
        engine,
    }
}
