//! RFC 3261 §18 transports: one UDP socket and TCP connections (accepted or opened on demand), and TLS
//! connections (RFC 3261 §26.2.1) accepted on their own port, all feeding parsed messages to the endpoint's
//! transaction task. A TLS connection is framed exactly as a TCP one; we never open one ourselves: a seat on
//! TLS is reached over the connection its REGISTER came on (the flow, as RFC 5626 does it), since seats
//! behind NAT cannot be connected to and have no server certificate to check.
//!
//! Nothing here waits on the transaction layer: sends are queued per connection (TCP) or tried
//! without blocking (UDP), so a slow peer never stalls a retransmission.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use crate::transaction::{via_destination, ClientTxId};
use crate::{frame, Frame, Limits, SipMessage};

use crate::flood::{FloodLimits, SourceLimiter, Verdict};
pub use crate::net::{TcpIdle, TransportKind};

/// Shared counters (relaxed atomics: they are statistics, not synchronisation).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub received: AtomicU64,
    pub parse_errors: AtomicU64,
    pub parse_errors_dropped: AtomicU64,
    pub sent: AtomicU64,
    pub retransmissions: AtomicU64,
    pub send_errors: AtomicU64,
    pub dropped_incoming: AtomicU64,
    pub stray_responses: AtomicU64,
    pub tcp_connections: AtomicU64,
    /// Mirrors of the transaction layer's state, refreshed by its task.
    pub absorbed_requests: AtomicU64,
    /// Messages dropped by the per-source flood limit, and the bans it started.
    pub flood_dropped: AtomicU64,
    pub flood_bans: AtomicU64,
    pub live_client_transactions: AtomicU64,
    pub live_server_transactions: AtomicU64,
}

impl Counters {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// A parsed message handed to the transaction task.
pub(crate) struct Inbound {
    pub msg: SipMessage,
    pub source: SocketAddr,
    pub transport: TransportKind,
}

/// A send that failed for a client transaction's request (reported back to the layer).
pub(crate) type ErrorSink = mpsc::UnboundedSender<ClientTxId>;

type ConnQueue = mpsc::Sender<(Bytes, Option<ClientTxId>)>;
type ConnQueueRx = mpsc::Receiver<(Bytes, Option<ClientTxId>)>;

/// Messages queued per TCP connection; a peer that stops reading loses messages, not our memory.
const CONN_QUEUE: usize = 1024;

/// A peer that does not accept a connection within this is reported as a transport error
/// (sooner than Timer B/F, and without waiting for the kernel's SYN retries).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A TLS client that has not finished its handshake by then is dropped (a slow or idle peer must not hold a
/// task or a file descriptor), as on the admin port.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A stream connection: its transport (TCP or TLS) and the peer's address.
type ConnKey = (TransportKind, SocketAddr);

/// The sockets of one endpoint.
pub(crate) struct Transports {
    pub udp: Arc<UdpSocket>,
    conns: Mutex<HashMap<ConnKey, ConnQueue>>,
    /// TLS handshakes in progress: they count against `max_connections` too.
    handshakes: std::sync::atomic::AtomicUsize,
    inbound: mpsc::Sender<Inbound>,
    errors: ErrorSink,
    pub counters: Arc<Counters>,
    max_message_size: usize,
    max_connections: usize,
    idle: TcpIdle,
    /// Per-source flood limit, asked before a message is parsed.
    flood: Mutex<SourceLimiter>,
    /// Cancelled when the endpoint is dropped: connection tasks end with it.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// Bind a UDP socket with a large receive buffer (bursts of INVITEs must not overflow it).
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the kernel may clamp it to net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(1 << 20);
    if let Ok(got) = socket.recv_buffer_size() {
        if got < 4 << 20 {
            // Linux caps SO_RCVBUF at net.core.rmem_max; raise that sysctl for call bursts.
            tracing::info!(%addr, bytes = got, "UDP receive buffer smaller than asked (4 MiB)");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

use crate::stateless::error_reply;
pub use crate::stateless::error_response;

/// Datagrams that are only whitespace are keep-alives (RFC 5626 §4.4.1 CRLF), not errors.
fn is_keepalive(buf: &[u8]) -> bool {
    buf.iter().all(|b| b.is_ascii_whitespace())
}

impl Transports {
    pub fn new(
        udp: UdpSocket,
        inbound: mpsc::Sender<Inbound>,
        errors: ErrorSink,
        counters: Arc<Counters>,
        max_message_size: usize,
        max_connections: usize,
        idle: TcpIdle,
    ) -> Arc<Transports> {
        Arc::new(Transports {
            udp: Arc::new(udp),
            conns: Mutex::new(HashMap::new()),
            handshakes: std::sync::atomic::AtomicUsize::new(0),
            inbound,
            errors,
            counters,
            max_message_size,
            max_connections,
            idle,
            flood: Mutex::new(SourceLimiter::new(FloodLimits::default())),
            shutdown: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// Set the per-source flood limit (off until then).
    pub fn set_flood_limits(&self, limits: FloodLimits) {
        if let Ok(mut l) = self.flood.lock() {
            *l = SourceLimiter::new(limits);
        }
    }

    /// The flood limit's word on one message from `source`; a dropped one is counted, unanswered.
    fn flood_admits(&self, source: SocketAddr) -> bool {
        let verdict = match self.flood.lock() {
            Ok(mut l) => l.check(source.ip(), std::time::Instant::now()),
            Err(_) => Verdict::Pass,
        };
        match verdict {
            Verdict::Pass => true,
            Verdict::Banned => {
                Counters::inc(&self.counters.flood_dropped);
                false
            }
            Verdict::Ban => {
                Counters::inc(&self.counters.flood_dropped);
                let bans = self.counters.flood_bans.fetch_add(1, Ordering::Relaxed) + 1;
                // A spoofed-source flood can start thousands of bans: log the first ones, then a sample.
                if bans <= 20 || bans % 1000 == 0 {
                    tracing::warn!(source = %source.ip(), bans, "flood limit: source banned");
                }
                false
            }
        }
    }

    fn connection_count(&self) -> usize {
        self.conns.lock().map(|c| c.len()).unwrap_or(0) + self.handshakes.load(Ordering::Relaxed)
    }

    /// Hand a parsed message to the transaction task; a malformed one gets a 4xx or is counted.
    /// True if the message parsed.
    async fn deliver(
        self: &Arc<Self>,
        raw: Bytes,
        source: SocketAddr,
        transport: TransportKind,
    ) -> bool {
        Counters::inc(&self.counters.received);
        if !self.flood_admits(source) {
            return false;
        }
        let limits = Limits {
            max_message_len: self.max_message_size,
            ..Limits::default()
        };
        match SipMessage::parse_with(raw.clone(), &limits) {
            Ok(msg) => {
                let _ = self
                    .inbound
                    .send(Inbound {
                        msg,
                        source,
                        transport,
                    })
                    .await;
                true
            }
            Err(err) => {
                Counters::inc(&self.counters.parse_errors);
                match error_reply(&raw, &err) {
                    Some(reply) => {
                        tracing::debug!(%source, %transport, error = %err, "refusing malformed SIP request");
                        let dest = via_destination(Some(&reply.top_via), source, transport);
                        self.send(reply.bytes, dest, transport, None);
                    }
                    None => {
                        Counters::inc(&self.counters.parse_errors_dropped);
                        tracing::debug!(%source, %transport, error = %err, "dropping malformed SIP message");
                    }
                }
                false
            }
        }
    }

    /// Receive datagrams until the endpoint is dropped.
    pub async fn udp_loop(self: Arc<Self>) {
        let mut buf = vec![0u8; self.max_message_size.max(1500)];
        loop {
            let (n, source) = match self.udp.recv_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port-unreachable surfaces here on some systems: not fatal. Anything
                    // else may repeat at once, so pause instead of spinning a core.
                    tracing::debug!(error = %e, "udp recv error");
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                    ) {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                    continue;
                }
            };
            if n == 0 || is_keepalive(&buf[..n]) {
                continue;
            }
            self.deliver(
                Bytes::copy_from_slice(&buf[..n]),
                source,
                TransportKind::Udp,
            )
            .await;
        }
    }

    /// Accept TCP connections forever.
    pub async fn tcp_accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    if self.connection_count() >= self.max_connections {
                        // File descriptors are finite: refuse rather than starve UDP and calls.
                        Counters::inc(&self.counters.dropped_incoming);
                        tracing::warn!(%peer, "too many TCP connections; refusing");
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    Counters::inc(&self.counters.tcp_connections);
                    let (tx, rx) = mpsc::channel(CONN_QUEUE);
                    let key = (TransportKind::Tcp, peer);
                    self.register(key, tx.clone());
                    tokio::spawn(Arc::clone(&self).run_connection(stream, key, tx, rx));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Accept TLS connections forever: each handshake runs in a task of its own, bounded in time and, with
    /// the TCP connections, in number.
    pub async fn tls_accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        tls: Arc<rustls::ServerConfig>,
    ) {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "tls accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            if self.connection_count() >= self.max_connections {
                Counters::inc(&self.counters.dropped_incoming);
                tracing::warn!(%peer, "too many TCP/TLS connections; refusing");
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.handshakes.fetch_add(1, Ordering::Relaxed);
            let me = Arc::clone(&self);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                let res = tokio::select! {
                    r = handshake => Some(r),
                    _ = me.shutdown.cancelled() => None,
                };
                me.handshakes.fetch_sub(1, Ordering::Relaxed);
                match res {
                    None => {}
                    Some(Ok(Ok(tls))) => {
                        Counters::inc(&me.counters.tcp_connections);
                        let (tx, rx) = mpsc::channel(CONN_QUEUE);
                        let key = (TransportKind::Tls, peer);
                        me.register(key, tx.clone());
                        me.run_connection(tls, key, tx, rx).await;
                    }
                    Some(Ok(Err(e))) => {
                        tracing::debug!(%peer, error = %e, "SIP TLS handshake failed")
                    }
                    Some(Err(_)) => tracing::debug!(%peer, "SIP TLS handshake timed out"),
                }
            });
        }
    }

    fn register(&self, key: ConnKey, tx: ConnQueue) {
        if let Ok(mut conns) = self.conns.lock() {
            conns.insert(key, tx);
        }
    }

    fn unregister(&self, key: ConnKey, tx: &ConnQueue) {
        if let Ok(mut conns) = self.conns.lock() {
            if conns.get(&key).is_some_and(|c| c.same_channel(tx)) {
                conns.remove(&key);
            }
        }
    }

    /// Send `bytes`; never waits. `tx` names the client transaction to fail if delivery fails.
    pub fn send(
        self: &Arc<Self>,
        bytes: Bytes,
        dest: SocketAddr,
        transport: TransportKind,
        tx: Option<ClientTxId>,
    ) {
        Counters::inc(&self.counters.sent);
        match transport {
            TransportKind::Udp => match self.udp.try_send_to(&bytes, dest) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Socket buffer full: finish this one asynchronously rather than stall the layer.
                    let me = Arc::clone(self);
                    tokio::spawn(async move {
                        if let Err(e) = me.udp.send_to(&bytes, dest).await {
                            me.send_failed(dest, e, tx);
                        }
                    });
                }
                Err(e) => self.send_failed(dest, e, tx),
            },
            TransportKind::Tcp => self.send_tcp(bytes, dest, tx),
            TransportKind::Tls => self.send_tls(bytes, dest, tx),
        }
    }

    /// TLS goes only over an open connection (see the module's comment): none open is a transport error, so a
    /// seat whose connection dropped fails at once and is tried again after it registers anew.
    fn send_tls(self: &Arc<Self>, bytes: Bytes, dest: SocketAddr, tx: Option<ClientTxId>) {
        let queue = self
            .conns
            .lock()
            .ok()
            .and_then(|c| c.get(&(TransportKind::Tls, dest)).cloned());
        let res = match queue {
            Some(q) => q.try_send((bytes, tx)).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => io::ErrorKind::WouldBlock,
                mpsc::error::TrySendError::Closed(_) => io::ErrorKind::NotConnected,
            }),
            None => Err(io::ErrorKind::NotConnected),
        };
        if let Err(kind) = res {
            self.send_failed(dest, kind.into(), tx);
        }
    }

    fn send_failed(&self, dest: SocketAddr, e: io::Error, tx: Option<ClientTxId>) {
        Counters::inc(&self.counters.send_errors);
        tracing::debug!(%dest, error = %e, "send failed");
        if let Some(tx) = tx {
            let _ = self.errors.send(tx);
        }
    }

    /// A response on a stream transport: on the request's connection if it is still open, else on a new
    /// connection to `fallback` (§18.2.2; on TLS, where we open none, it fails unless the peer has one).
    pub fn send_response_tcp(
        self: &Arc<Self>,
        bytes: Bytes,
        conn: SocketAddr,
        fallback: SocketAddr,
        transport: TransportKind,
    ) {
        let open = self
            .conns
            .lock()
            .map(|c| c.get(&(transport, conn)).is_some_and(|q| !q.is_closed()))
            .unwrap_or(false);
        let dest = if open { conn } else { fallback };
        self.send(bytes, dest, transport, None);
    }

    fn send_tcp(self: &Arc<Self>, bytes: Bytes, dest: SocketAddr, tx: Option<ClientTxId>) {
        let Ok(mut conns) = self.conns.lock() else {
            return;
        };
        let key = (TransportKind::Tcp, dest);
        if let Some(conn) = conns.get(&key) {
            match conn.try_send((bytes.clone(), tx)) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    drop(conns);
                    self.send_failed(dest, io::ErrorKind::WouldBlock.into(), tx);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    conns.remove(&key);
                }
            }
        }
        // No connection: queue the message and connect in the background (§18.1.1).
        let (qtx, qrx) = mpsc::channel(CONN_QUEUE);
        let _ = qtx.try_send((bytes, tx));
        conns.insert(key, qtx.clone());
        drop(conns);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dest));
            let res = tokio::select! {
                r = connect => r.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
                _ = me.shutdown.cancelled() => Err(io::ErrorKind::Interrupted.into()),
            };
            match res {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    Counters::inc(&me.counters.tcp_connections);
                    me.run_connection(stream, key, qtx, qrx).await;
                }
                Err(e) => {
                    me.unregister(key, &qtx);
                    let mut qrx = qrx;
                    qrx.close();
                    while let Ok((_, tx)) = qrx.try_recv() {
                        me.send_failed(dest, io::Error::new(e.kind(), e.to_string()), tx);
                    }
                }
            }
        });
    }

    /// One TCP or TLS connection: a writer draining its queue and a reader framing messages (§18.3).
    async fn run_connection<S>(
        self: Arc<Self>,
        stream: S,
        key: ConnKey,
        qtx: ConnQueue,
        mut qrx: ConnQueueRx,
    ) where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (kind, peer) = key;
        let (mut rd, mut wr) = tokio::io::split(stream);
        let me = Arc::clone(&self);
        let epoch = tokio::time::Instant::now();
        let last_write = Arc::new(AtomicU64::new(0));
        let written = Arc::clone(&last_write);
        let writer = tokio::spawn(async move {
            while let Some((bytes, tx)) = qrx.recv().await {
                // A TLS stream holds records until flushed; on TCP the flush is free.
                let res = match wr.write_all(&bytes).await {
                    Ok(()) => wr.flush().await,
                    Err(e) => Err(e),
                };
                written.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
                if let Err(e) = res {
                    me.send_failed(peer, e, tx);
                    qrx.close();
                    while let Ok((_, tx)) = qrx.try_recv() {
                        me.send_failed(peer, io::ErrorKind::BrokenPipe.into(), tx);
                    }
                    break;
                }
            }
        });
        let mut buf = BytesMut::with_capacity(8192);
        let mut validated = false;
        'conn: loop {
            let idle = if validated {
                self.idle.after_first_message
            } else {
                self.idle.before_first_message
            };
            let read = tokio::select! {
                r = tokio::time::timeout(idle, rd.read_buf(&mut buf)) => r,
                _ = self.shutdown.cancelled() => break,
            };
            match read {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => {}
                Err(_) => {
                    let since_write =
                        epoch
                            .elapsed()
                            .saturating_sub(std::time::Duration::from_millis(
                                last_write.load(Ordering::Relaxed),
                            ));
                    if since_write >= idle {
                        tracing::debug!(%peer, %kind, "closing idle connection");
                        break;
                    }
                    continue;
                }
            }
            loop {
                // RFC 5626 §4.4.1: a double-CRLF ping gets a single-CRLF pong.
                let crlfs = buf
                    .iter()
                    .take_while(|&&b| b == b'\r' || b == b'\n')
                    .count();
                if crlfs >= 4 && buf[..crlfs].windows(4).any(|w| w == b"\r\n\r\n") {
                    buf.advance(crlfs);
                    let _ = qtx.try_send((Bytes::from_static(b"\r\n"), None));
                    continue;
                }
                match frame(&buf, self.max_message_size) {
                    Frame::Incomplete => {
                        if buf.len() > self.max_message_size {
                            break 'conn;
                        }
                        break;
                    }
                    Frame::Complete { skip, len } => {
                        buf.advance(skip);
                        let raw = buf.split_to(len).freeze();
                        validated |= self.deliver(raw, peer, kind).await;
                    }
                    Frame::Invalid(err) => {
                        // The stream cannot be re-synchronised: answer if we can, then close.
                        Counters::inc(&self.counters.parse_errors);
                        match error_reply(&buf, &err) {
                            Some(reply) => {
                                let _ = qtx.try_send((reply.bytes, None));
                            }
                            None => Counters::inc(&self.counters.parse_errors_dropped),
                        }
                        break 'conn;
                    }
                }
            }
        }
        self.unregister(key, &qtx);
        drop(qtx);
        // Let the writer flush what is queued (e.g. the 400) before the socket closes.
        let _ = writer.await;
    }
}
