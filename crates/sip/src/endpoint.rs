//! The tokio shell around [`TransactionLayer`]: sockets in, one task owning the layer, events out.
//!
//! The layer lives in a single task that also sleeps until the layer's next deadline, so timers
//! fire whatever the TU is doing; the TU talks to it only through channels ([`ServerTx::respond`],
//! [`Endpoint::request`]) and never blocks it.
//!
//! ```no_run
//! use sip::dialog::{new_branch, Dialog};
//! use sip::endpoint::{Endpoint, EndpointConfig, TxEvent};
//! use sip::transport::TransportKind;
//! use sip::{Method, SipMessage};
//!
//! # async fn demo(invite_to_seat: SipMessage) -> std::io::Result<()> {
//! let (ep, mut incoming) = Endpoint::bind(EndpointConfig::default()).await?;
//! // UAS: answer what arrives (ACKs come with `tx: None`).
//! if let Some(inc) = incoming.recv().await {
//!     if let Some(tx) = &inc.tx {
//!         tx.respond(inc.msg.response(486, "Busy Here").to_tag("abc").build_message());
//!     }
//! }
//! // UAC: the request already carries `ep.via(transport, &new_branch())` as its top Via.
//! let seat = "192.0.2.10:5060".parse().unwrap();
//! let mut ctx = ep.request(invite_to_seat.clone(), seat, TransportKind::Udp);
//! while let Some(ev) = ctx.next().await {
//!     match ev {
//!         TxEvent::Provisional(_) => {}
//!         // Also comes again for each retransmitted 2xx: ACK every one (RFC 6026).
//!         TxEvent::Final(ok) if ok.status() == Some(200) => {
//!             if let Ok(dialog) = Dialog::uac(&invite_to_seat, &ok) {
//!                 let via = ep.via(TransportKind::Udp, &new_branch());
//!                 let ack = dialog.ack_for(&ok).header("Via", &via).build();
//!                 ep.send_raw(ack, seat, TransportKind::Udp);
//!             }
//!         }
//!         TxEvent::Final(_) => break,
//!         TxEvent::Timeout | TxEvent::TransportError => break,
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::flood::FloodLimits;
pub use crate::net::{TcpIdle, TransportKind};
pub use crate::transaction::TxEvent;
use crate::transaction::{
    cancel_for, ClientTxId, LayerConfig, Output, ServerTxId, Timers, TransactionLayer, TxId,
};
use crate::transport::{bind_udp, Counters, Inbound, Transports};
use crate::SipMessage;

/// How to bind and run an [`Endpoint`].
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub udp: SocketAddr,
    /// Also listen on TCP (TCP requests to peers are connected on demand either way).
    pub tcp: Option<SocketAddr>,
    /// Also listen for SIP over TLS (RFC 3261 §26.2.1) here, with this certificate (see [`crate::transport`]:
    /// we answer and reach TLS peers over their own connections, and open none).
    pub tls: Option<(SocketAddr, Arc<rustls::ServerConfig>)>,
    pub timers: Timers,
    /// Largest message accepted (datagram or framed stream message), bytes.
    pub max_message_size: usize,
    /// Capacity of the [`Incoming`] channel; when the TU falls this far behind, new requests get 503.
    pub incoming_queue: usize,
    /// Live transactions above which new requests get a stateless 503.
    pub max_transactions: usize,
    /// Send `100 Trying` for every INVITE at once.
    pub auto_trying: bool,
    /// Open TCP connections (accepted + ours) above which new ones are refused.
    pub max_tcp_connections: usize,
    /// When quiet TCP connections are closed.
    pub tcp_idle: TcpIdle,
    /// Host (name or IP) to put in our Via when the bound address is a wildcard or behind NAT.
    pub advertised_host: Option<String>,
    /// Per-source flood limit (off by default).
    pub flood: FloodLimits,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            udp: SocketAddr::from(([0, 0, 0, 0], 5060)),
            tcp: None,
            tls: None,
            timers: Timers::default(),
            max_message_size: 65_535,
            incoming_queue: 4096,
            max_transactions: LayerConfig::default().max_transactions,
            auto_trying: true,
            max_tcp_connections: 10_000,
            tcp_idle: TcpIdle::default(),
            advertised_host: None,
            flood: FloodLimits::default(),
        }
    }
}

/// A message for the TU.
#[derive(Debug)]
pub struct Incoming {
    pub msg: SipMessage,
    pub source: SocketAddr,
    pub transport: TransportKind,
    /// The server transaction to answer on; None for ACKs (which are never answered).
    pub tx: Option<ServerTx>,
    /// For a CANCEL: the INVITE transaction it cancels (answer it 487), None → answer CANCEL 481.
    pub cancels: Option<ServerTx>,
}

/// Handle to answer a received request. Cheap to clone; answering twice is harmless.
#[derive(Debug, Clone)]
pub struct ServerTx {
    id: ServerTxId,
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl ServerTx {
    pub fn id(&self) -> ServerTxId {
        self.id
    }

    /// Send `resp` (built from the request with `msg.response(..)`) through the transaction.
    pub fn respond(&self, resp: SipMessage) {
        let _ = self.cmd.send(Cmd::Respond {
            tx: self.id,
            msg: resp,
        });
    }
}

/// The events of a request we sent. Dropping it does not stop the transaction.
#[derive(Debug)]
pub struct ClientTx {
    events: Arc<Mutex<EventSlot>>,
}

/// One client transaction's undelivered events: a queue the layer's task pushes to and the TU pops.
///
/// Not a tokio channel: an unbounded channel allocates a block of 32 slots of `TxEvent` (a whole
/// parsed message each, ~24 KB) up front and keeps it while the transaction lingers (64·T1 after
/// a 2xx, §17.1.1.2 / RFC 6026), which was most of the daemon's memory under load. This holds the
/// one or two events a transaction has in flight and nothing once they are read.
#[derive(Debug, Default)]
struct EventSlot {
    queue: VecDeque<TxEvent>,
    waker: Option<Waker>,
    /// The transaction terminated: no more events.
    closed: bool,
    /// The TU dropped its [`ClientTx`]: events are discarded.
    receiver_gone: bool,
}

fn lock(slot: &Mutex<EventSlot>) -> MutexGuard<'_, EventSlot> {
    // A panic while holding this lock leaves the queue consistent (push/pop only).
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ClientTx {
    /// The next event; None once the transaction has terminated.
    pub async fn next(&mut self) -> Option<TxEvent> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Poll form of [`ClientTx::next`], for a TU that waits on many transactions at once.
    pub fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<TxEvent>> {
        let mut slot = lock(&self.events);
        if let Some(ev) = slot.queue.pop_front() {
            return std::task::Poll::Ready(Some(ev));
        }
        if slot.closed {
            return std::task::Poll::Ready(None);
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        std::task::Poll::Pending
    }

    /// Non-blocking variant for polling loops.
    pub fn try_next(&mut self) -> Option<TxEvent> {
        lock(&self.events).queue.pop_front()
    }
}

impl Drop for ClientTx {
    fn drop(&mut self) {
        let mut slot = lock(&self.events);
        slot.receiver_gone = true;
        // Free the buffer, not just its contents: the transaction may linger 32 s more.
        slot.queue = VecDeque::new();
        slot.waker = None;
    }
}

/// The layer task's end of a [`ClientTx`]; dropping it (the transaction terminated) ends the events.
#[derive(Debug)]
struct EventSender(Arc<Mutex<EventSlot>>);

impl EventSender {
    fn pair() -> (EventSender, ClientTx) {
        let slot = Arc::new(Mutex::new(EventSlot::default()));
        (EventSender(Arc::clone(&slot)), ClientTx { events: slot })
    }

    fn send(&self, ev: TxEvent) {
        let waker = {
            let mut slot = lock(&self.0);
            if slot.receiver_gone {
                return;
            }
            slot.queue.push_back(ev);
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        let waker = {
            let mut slot = lock(&self.0);
            slot.closed = true;
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Messages read from the network (datagrams and framed stream messages).
    pub received: u64,
    /// Of those, unparseable (answered 4xx when possible, else dropped).
    pub parse_errors: u64,
    /// Of the unparseable, those dropped unanswered: responses, ACKs, garbage, and requests
    /// without a usable top Via to route an answer by (RFC 3261 §18.2.2).
    pub parse_errors_dropped: u64,
    pub sent: u64,
    pub retransmissions: u64,
    pub send_errors: u64,
    /// Requests refused with 503 because the TU's queue was full or too many transactions.
    pub dropped_incoming: u64,
    pub stray_responses: u64,
    pub tcp_connections: u64,
    /// Retransmitted requests answered from the transaction layer without bothering the TU.
    pub absorbed_requests: u64,
    /// Messages dropped unparsed by the per-source flood limit, and the bans it started.
    pub flood_dropped: u64,
    pub flood_bans: u64,
    /// Gauges: transactions alive now (a number that keeps growing means something is stuck).
    pub live_client_transactions: u64,
    pub live_server_transactions: u64,
}

#[derive(Debug)]
enum Cmd {
    Request {
        msg: SipMessage,
        dest: SocketAddr,
        transport: TransportKind,
        events: EventSender,
    },
    Respond {
        tx: ServerTxId,
        msg: SipMessage,
    },
}

struct Inner {
    cmd: mpsc::UnboundedSender<Cmd>,
    transports: Arc<Transports>,
    counters: Arc<Counters>,
    udp_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    advertised_host: Option<String>,
    tasks: Vec<JoinHandle<()>>,
    ack_timeouts: std::sync::Mutex<Option<mpsc::Receiver<ServerTxId>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.transports.shutdown.cancel();
    }
}

/// A SIP endpoint: transports plus the transaction layer, running on the current tokio runtime.
/// Cloning is cheap; the tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("udp", &self.inner.udp_addr)
            .field("tcp", &self.inner.tcp_addr)
            .field("tls", &self.inner.tls_addr)
            .finish()
    }
}

impl Endpoint {
    /// Bind the sockets and start the tasks. Must be called inside a tokio runtime.
    pub async fn bind(cfg: EndpointConfig) -> io::Result<(Endpoint, mpsc::Receiver<Incoming>)> {
        let udp = bind_udp(cfg.udp)?;
        let udp_addr = udp.local_addr()?;
        let listener = match cfg.tcp {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        let tcp_addr = listener.as_ref().map(|l| l.local_addr()).transpose()?;
        let tls = match &cfg.tls {
            Some((addr, config)) => Some((TcpListener::bind(addr).await?, Arc::clone(config))),
            None => None,
        };
        let tls_addr = tls.as_ref().map(|(l, _)| l.local_addr()).transpose()?;

        let counters = Arc::new(Counters::default());
        let (net_tx, net_rx) = mpsc::channel::<Inbound>(cfg.incoming_queue.max(16) * 4);
        let (err_tx, err_rx) = mpsc::unbounded_channel::<ClientTxId>();
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel::<Cmd>();
        let (in_tx, in_rx) = mpsc::channel::<Incoming>(cfg.incoming_queue.max(1));
        let (ack_tx, ack_rx) = mpsc::channel::<ServerTxId>(1024);
        let transports = Transports::new(
            udp,
            net_tx,
            err_tx,
            Arc::clone(&counters),
            cfg.max_message_size,
            cfg.max_tcp_connections,
            cfg.tcp_idle,
        );
        transports.set_flood_limits(cfg.flood.clone());

        let layer = TransactionLayer::new(LayerConfig {
            timers: cfg.timers,
            auto_trying: cfg.auto_trying,
            max_transactions: cfg.max_transactions,
        });
        let core = Core {
            layer,
            transports: Arc::clone(&transports),
            counters: Arc::clone(&counters),
            cmd_tx: cmd_tx.clone(),
            incoming: in_tx,
            ack_timeouts: ack_tx,
            clients: HashMap::new(),
        };
        let mut tasks = vec![
            tokio::spawn(core.run(cmd_rx, net_rx, err_rx)),
            tokio::spawn(Arc::clone(&transports).udp_loop()),
        ];
        if let Some(listener) = listener {
            tasks.push(tokio::spawn(
                Arc::clone(&transports).tcp_accept_loop(listener),
            ));
        }
        if let Some((listener, config)) = tls {
            tasks.push(tokio::spawn(
                Arc::clone(&transports).tls_accept_loop(listener, config),
            ));
        }
        let ep = Endpoint {
            inner: Arc::new(Inner {
                cmd: cmd_tx,
                transports,
                counters,
                udp_addr,
                tcp_addr,
                tls_addr,
                advertised_host: cfg.advertised_host.clone(),
                tasks,
                ack_timeouts: std::sync::Mutex::new(Some(ack_rx)),
            }),
        };
        Ok((ep, in_rx))
    }

    /// The bound UDP address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.udp_addr
    }

    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.inner.tcp_addr
    }

    /// The bound TLS address, when [`EndpointConfig::tls`] was set.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.inner.tls_addr
    }

    /// A Via value for a request we send on `transport` (with `rport`, RFC 3581): the advertised
    /// host if configured (needed when bound to 0.0.0.0), else the bound IP; the bound port.
    pub fn via(&self, transport: TransportKind, branch: &str) -> String {
        format!("{};branch={};rport", self.via_sent_by(transport), branch)
    }

    /// The Via value without its parameters (`SIP/2.0/UDP host:port`), for a session that adds
    /// its own branch (see [`crate::session::SessionConfig::via`]).
    pub fn via_sent_by(&self, transport: TransportKind) -> String {
        let addr = match transport {
            TransportKind::Udp => self.inner.udp_addr,
            TransportKind::Tcp => self.inner.tcp_addr.unwrap_or(self.inner.udp_addr),
            TransportKind::Tls => self.inner.tls_addr.unwrap_or(self.inner.udp_addr),
        };
        let host = match (&self.inner.advertised_host, addr) {
            (Some(h), _) if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            (Some(h), _) => h.clone(),
            (None, SocketAddr::V4(a)) => a.ip().to_string(),
            (None, SocketAddr::V6(a)) => format!("[{}]", a.ip()),
        };
        format!("SIP/2.0/{} {}:{}", transport.as_str(), host, addr.port())
    }

    /// Send a request as a client transaction. `req` must already carry our top Via with a fresh
    /// branch (see [`crate::dialog::new_branch`]).
    pub fn request(&self, req: SipMessage, dest: SocketAddr, transport: TransportKind) -> ClientTx {
        let (events, rx) = EventSender::pair();
        let _ = self.inner.cmd.send(Cmd::Request {
            msg: req,
            dest,
            transport,
            events,
        });
        rx
    }

    /// CANCEL a pending INVITE we sent (§9.1) as its own client transaction.
    pub fn cancel(
        &self,
        invite: &SipMessage,
        dest: SocketAddr,
        transport: TransportKind,
    ) -> Option<ClientTx> {
        let cancel = SipMessage::parse(cancel_for(invite)?).ok()?;
        Some(self.request(cancel, dest, transport))
    }

    /// Send bytes outside any transaction (ACK to a 2xx, stateless replies).
    pub fn send_raw(&self, bytes: Bytes, dest: SocketAddr, transport: TransportKind) {
        self.inner.transports.send(bytes, dest, transport, None);
    }

    /// INVITE server transactions whose final response was never ACKed (Timer H, or Timer L for
    /// a 2xx): the TU should send BYE for an accepted call. Can be taken once.
    pub fn take_ack_timeouts(&self) -> Option<mpsc::Receiver<ServerTxId>> {
        self.inner.ack_timeouts.lock().ok()?.take()
    }

    pub fn stats(&self) -> EndpointStats {
        let c = &self.inner.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        EndpointStats {
            received: get(&c.received),
            parse_errors: get(&c.parse_errors),
            parse_errors_dropped: get(&c.parse_errors_dropped),
            sent: get(&c.sent),
            retransmissions: get(&c.retransmissions),
            send_errors: get(&c.send_errors),
            dropped_incoming: get(&c.dropped_incoming),
            stray_responses: get(&c.stray_responses),
            tcp_connections: get(&c.tcp_connections),
            absorbed_requests: get(&c.absorbed_requests),
            flood_dropped: get(&c.flood_dropped),
            flood_bans: get(&c.flood_bans),
            live_client_transactions: get(&c.live_client_transactions),
            live_server_transactions: get(&c.live_server_transactions),
        }
    }
}

/// The task that owns the transaction layer.
struct Core {
    layer: TransactionLayer,
    transports: Arc<Transports>,
    counters: Arc<Counters>,
    cmd_tx: mpsc::UnboundedSender<Cmd>,
    incoming: mpsc::Sender<Incoming>,
    ack_timeouts: mpsc::Sender<ServerTxId>,
    clients: HashMap<ClientTxId, EventSender>,
}

fn now() -> std::time::Instant {
    // tokio's clock, so tests can run the endpoint with paused (simulated) time.
    tokio::time::Instant::now().into_std()
}

impl Core {
    async fn run(
        mut self,
        mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
        mut net_rx: mpsc::Receiver<Inbound>,
        mut err_rx: mpsc::UnboundedReceiver<ClientTxId>,
    ) {
        loop {
            let deadline = self.layer.next_deadline();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            let mut origin = None;
            let outputs = tokio::select! {
                biased;
                _ = sleep => self.layer.on_timer(now()),
                Some(tx) = err_rx.recv() => self.layer.transport_error(tx),
                Some(cmd) = cmd_rx.recv() => match cmd {
                    Cmd::Request { msg, dest, transport, events } => {
                        let (id, out) = self.layer.send_request(msg, dest, transport, now());
                        self.clients.insert(id, events);
                        origin = Some(id);
                        out
                    }
                    Cmd::Respond { tx, msg } => self.layer.send_response(tx, msg, now()),
                },
                Some(m) = net_rx.recv() => self.layer.on_message(m.msg, m.source, m.transport, now()),
                else => break,
            };
            self.execute(outputs, origin);
            self.publish();
        }
    }

    /// `origin`: the client transaction whose first send these outputs carry, so that a failed
    /// connect is reported on it.
    fn execute(&mut self, outputs: Vec<Output>, origin: Option<ClientTxId>) {
        let mut queue = outputs;
        while !queue.is_empty() {
            let mut more = Vec::new();
            for out in queue {
                self.execute_one(out, origin, &mut more);
            }
            queue = more;
        }
    }

    fn execute_one(&mut self, out: Output, origin: Option<ClientTxId>, more: &mut Vec<Output>) {
        match out {
            Output::Transmit {
                bytes,
                dest,
                transport,
                retransmission,
                fallback,
            } => {
                if retransmission {
                    Counters::inc(&self.counters.retransmissions);
                }
                match fallback {
                    Some(alt) => self
                        .transports
                        .send_response_tcp(bytes, dest, alt, transport),
                    None => self.transports.send(bytes, dest, transport, origin),
                }
            }
            Output::Request {
                tx,
                msg,
                source,
                transport,
                cancels,
            } => {
                let handle = |id: ServerTxId| ServerTx {
                    id,
                    cmd: self.cmd_tx.clone(),
                };
                let incoming = Incoming {
                    msg,
                    source,
                    transport,
                    tx: tx.map(handle),
                    cancels: cancels.map(handle),
                };
                if let Err(
                    mpsc::error::TrySendError::Full(incoming)
                    | mpsc::error::TrySendError::Closed(incoming),
                ) = self.incoming.try_send(incoming)
                {
                    // The TU is overloaded (or gone): refuse rather than queue without bound.
                    Counters::inc(&self.counters.dropped_incoming);
                    let resp = incoming
                        .msg
                        .response(503, "Service Unavailable")
                        .header("Retry-After", "5")
                        .build();
                    if let (Some(tx), Ok(resp)) = (tx, SipMessage::parse(resp)) {
                        more.extend(self.layer.send_response(tx, resp, now()));
                    }
                }
            }
            Output::Response { tx, msg } => {
                let status = msg.status().unwrap_or(0);
                let ev = if status < 200 {
                    TxEvent::Provisional(msg)
                } else {
                    TxEvent::Final(msg)
                };
                self.notify(tx, ev);
            }
            Output::Timeout { tx } => self.notify(tx, TxEvent::Timeout),
            Output::TransportError { tx } => self.notify(tx, TxEvent::TransportError),
            Output::AckTimeout { tx } => {
                tracing::info!(tx = tx.0, "final response to INVITE never acknowledged");
                // Bounded: if nobody listens, later ones are dropped rather than queued forever.
                let _ = self.ack_timeouts.try_send(tx);
            }
            Output::Terminated { tx } => {
                if let TxId::Client(c) = tx {
                    self.clients.remove(&c);
                }
            }
            Output::StrayResponse { msg, source } => {
                Counters::inc(&self.counters.stray_responses);
                tracing::debug!(%source, call_id = msg.call_id(), "response matches no transaction");
            }
            Output::Rejected { .. } => Counters::inc(&self.counters.dropped_incoming),
        }
    }

    fn publish(&self) {
        let (clients, servers) = self.layer.len();
        let c = &self.counters;
        c.absorbed_requests
            .store(self.layer.stats().absorbed_requests, Ordering::Relaxed);
        c.live_client_transactions
            .store(clients as u64, Ordering::Relaxed);
        c.live_server_transactions
            .store(servers as u64, Ordering::Relaxed);
    }

    fn notify(&mut self, tx: ClientTxId, ev: TxEvent) {
        if let Some(s) = self.clients.get(&tx) {
            // The TU may have dropped its ClientTx; the transaction still runs to completion.
            s.send(ev);
        }
    }
}
