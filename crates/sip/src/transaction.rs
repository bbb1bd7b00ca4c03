//! RFC 3261 §17 transactions (with RFC 6026's Accepted state and Timers L/M), sans-IO.
//!
//! [`TransactionLayer`] owns every client and server transaction. It never touches a socket or a
//! clock: the shell feeds it parsed messages, requests/responses from the TU and `now`, and executes
//! the returned [`Output`]s. [`TransactionLayer::next_deadline`] tells the shell when to call
//! [`TransactionLayer::on_timer`] next, so retransmissions run whatever the TU is busy with.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::net::TransportKind;
use crate::{Method, RequestBuilder, SipMessage, Via};

/// RFC 3261 §17.1.1.1 magic cookie: branches starting with it are unique per transaction.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// The base timer values of RFC 3261 Table 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Cap on non-INVITE request and INVITE response retransmit intervals (default 4 s).
    pub t2: Duration,
    /// How long the network may hold a message (default 5 s).
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H, J (unreliable), L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Knobs of the transaction layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerConfig {
    pub timers: Timers,
    /// Send `100 Trying` as soon as an INVITE server transaction is created (§17.2.1 requires one
    /// within 200 ms unless the TU sends a provisional itself; sending it at once is simplest).
    pub auto_trying: bool,
    /// Above this many live transactions new requests get a stateless 503 (overload guard).
    pub max_transactions: usize,
}

impl Default for LayerConfig {
    fn default() -> Self {
        LayerConfig {
            timers: Timers::default(),
            auto_trying: true,
            max_transactions: 200_000,
        }
    }
}

/// A client transaction (a request we sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub u64);

/// A server transaction (a request we received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxId {
    Client(ClientTxId),
    Server(ServerTxId),
}

/// What the shell must do after feeding the layer.
#[derive(Debug, Clone)]
pub enum Output {
    /// Put these bytes on the wire. `retransmission` is for counters only.
    Transmit {
        bytes: Bytes,
        dest: SocketAddr,
        transport: TransportKind,
        retransmission: bool,
        /// For responses on a connection: where to open a new one if that connection is gone
        /// (§18.2.2: the `received` IP and the sent-by port).
        fallback: Option<SocketAddr>,
    },
    /// A new request for the TU. `tx` is None for ACKs (to 2xx, or stray). For a CANCEL, `cancels`
    /// is the INVITE server transaction it matches (§9.2), None if there is none (→ TU answers 481).
    Request {
        tx: Option<ServerTxId>,
        msg: SipMessage,
        source: SocketAddr,
        transport: TransportKind,
        cancels: Option<ServerTxId>,
    },
    /// A response for the TU: every provisional, the final, and in the INVITE Accepted state each
    /// retransmitted 2xx (so the TU re-sends its ACK).
    Response { tx: ClientTxId, msg: SipMessage },
    /// Timer B or F: no final response; the TU acts as if it got a 408.
    Timeout { tx: ClientTxId },
    /// The transport could not deliver the request (reported by the shell).
    TransportError { tx: ClientTxId },
    /// A final response to INVITE was never ACKed (Timer H, or Timer L for a 2xx): the TU should
    /// tear the dialog down (BYE) if it had accepted it.
    AckTimeout { tx: ServerTxId },
    /// The transaction is gone; its id will never be reported again.
    Terminated { tx: TxId },
    /// A response that matches no client transaction (e.g. a 2xx retransmitted after Timer M).
    StrayResponse { msg: SipMessage, source: SocketAddr },
    /// A request refused before it became a transaction (overload); already answered statelessly.
    Rejected {
        msg: SipMessage,
        source: SocketAddr,
        status: u16,
    },
}

/// What happened on a client transaction, as the TU sees it (the endpoint maps
/// [`Output::Response`]/[`Output::Timeout`]/[`Output::TransportError`] onto it).
#[derive(Debug, Clone)]
pub enum TxEvent {
    Provisional(SipMessage),
    /// A final response. For INVITE, each retransmitted 2xx comes again (RFC 6026): re-send the ACK.
    Final(SipMessage),
    /// Timer B/F: no final response (treat as 408).
    Timeout,
    TransportError,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ServerKey {
    branch: Box<str>,
    sent_by: Box<str>,
    /// The request method, with ACK folded into INVITE (§17.2.3).
    method: Box<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    branch: Box<str>,
    method: Box<str>,
}

/// RFC 6026: an ACK to a 2xx has its own branch, so it is matched by dialog and CSeq instead.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AckKey {
    call_id: Box<str>,
    cseq: u32,
    to_tag: Box<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    /// "Calling" for INVITE, "Trying" for non-INVITE.
    Trying,
    Proceeding,
    Completed,
    Accepted,
}

struct ServerTx {
    key: ServerKey,
    invite: bool,
    state: ServerState,
    transport: TransportKind,
    /// Where responses go (§18.2.2).
    dest: SocketAddr,
    fallback: Option<SocketAddr>,
    last_response: Option<Bytes>,
    last_status: u16,
    /// Timer G, or the 2xx retransmission timer in Accepted.
    retransmit_at: Option<Instant>,
    retransmit_interval: Duration,
    /// Timer H, I, J or L.
    end_at: Option<Instant>,
    ack_key: Option<AckKey>,
    acked: bool,
}

struct ClientTx {
    key: ClientKey,
    invite: bool,
    state: ClientState,
    transport: TransportKind,
    dest: SocketAddr,
    /// The request while it may need retransmitting; dropped at the final response, so that a
    /// transaction lingering for Timer D/K/M holds only its keys and the ACK bytes.
    request: Option<SipMessage>,
    /// The ACK we built for a non-2xx final response, re-sent for each retransmission of it.
    ack: Option<Bytes>,
    /// Timer A or E.
    retransmit_at: Option<Instant>,
    retransmit_interval: Duration,
    /// Timer B or F.
    timeout_at: Option<Instant>,
    /// Timer D, K or M.
    end_at: Option<Instant>,
}

/// Counters the shell may export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayerStats {
    pub retransmissions: u64,
    pub absorbed_requests: u64,
    pub stray_responses: u64,
}

/// All transactions of one endpoint. See the module docs.
pub struct TransactionLayer {
    cfg: LayerConfig,
    next_id: u64,
    servers: HashMap<ServerTxId, ServerTx>,
    server_keys: HashMap<ServerKey, ServerTxId>,
    ack_keys: HashMap<AckKey, ServerTxId>,
    clients: HashMap<ClientTxId, ClientTx>,
    client_keys: HashMap<ClientKey, ClientTxId>,
    /// Deadlines, possibly stale: a popped entry only makes the layer re-check that transaction.
    timers: BinaryHeap<Reverse<(Instant, TxId)>>,
    stats: LayerStats,
}

impl Default for TransactionLayer {
    fn default() -> Self {
        Self::new(LayerConfig::default())
    }
}

fn default_port(transport: TransportKind) -> u16 {
    match transport {
        TransportKind::Udp | TransportKind::Tcp => 5060,
        TransportKind::Tls => 5061,
    }
}

fn is_reliable(transport: TransportKind) -> bool {
    !matches!(transport, TransportKind::Udp)
}

/// Where to send responses to a request that arrived from `source` (RFC 3261 §18.2.2, RFC 3581):
/// on a connection back to the source; on UDP to the source IP (`received`) and either the source
/// port (`rport`) or the Via port.
pub fn response_destination(
    msg: &SipMessage,
    source: SocketAddr,
    transport: TransportKind,
) -> SocketAddr {
    via_destination(msg.vias().first(), source, transport)
}

/// [`response_destination`] from the top Via alone, for answers to requests that did not parse.
pub(crate) fn via_destination(
    top: Option<&Via>,
    source: SocketAddr,
    transport: TransportKind,
) -> SocketAddr {
    if is_reliable(transport) {
        return source;
    }
    match top {
        Some(via) if via.rport().is_some() => source,
        Some(via) => SocketAddr::new(source.ip(), via.port.unwrap_or(default_port(transport))),
        None => source,
    }
}

/// On a connection-oriented transport, where to connect if the request's connection has closed
/// before we answer (§18.2.2): the source IP and the Via sent-by port. None for UDP, or when that
/// is the connection's own address.
pub fn response_fallback(
    msg: &SipMessage,
    source: SocketAddr,
    transport: TransportKind,
) -> Option<SocketAddr> {
    if !is_reliable(transport) {
        return None;
    }
    let via = msg.vias().first()?;
    let addr = SocketAddr::new(source.ip(), via.port.unwrap_or(default_port(transport)));
    (addr != source).then_some(addr)
}

/// The branch (or an RFC 2543 substitute) and sent-by of a request's top Via.
fn server_key(msg: &SipMessage, method: &Method) -> ServerKey {
    let method: Box<str> = if *method == Method::Ack {
        "INVITE".into()
    } else {
        method.as_str().into()
    };
    let (branch, sent_by) = match msg.vias().first() {
        Some(via) => {
            let sent_by = format!(
                "{}:{}",
                via.host.to_ascii_lowercase(),
                via.port.unwrap_or(5060)
            );
            let branch = match via.branch() {
                Some(b) if b.starts_with(MAGIC_COOKIE) => b.to_owned(),
                // RFC 2543 peers: §17.2.3's fallback, minus the To tag (which an ACK adds).
                other => format!(
                    "2543|{}|{}|{}|{}|{}",
                    other.unwrap_or(""),
                    msg.request_uri().map(|u| u.to_string()).unwrap_or_default(),
                    msg.call_id(),
                    msg.cseq().seq,
                    msg.from().tag().unwrap_or("")
                ),
            };
            (branch, sent_by)
        }
        None => (String::new(), String::new()),
    };
    ServerKey {
        branch: branch.into(),
        sent_by: sent_by.into(),
        method,
    }
}

fn response_client_key(msg: &SipMessage) -> Option<ClientKey> {
    let branch = msg.vias().first()?.branch()?;
    Some(ClientKey {
        branch: branch.into(),
        method: msg.cseq().method.as_str().into(),
    })
}

fn ack_key_of(msg: &SipMessage) -> Option<AckKey> {
    Some(AckKey {
        call_id: msg.call_id().into(),
        cseq: msg.cseq().seq,
        to_tag: msg.to().tag()?.into(),
    })
}

/// Copies the headers an ACK or CANCEL shares with the request it refers to (§17.1.1.3, §9.1):
/// Request-URI, top Via only, From, Call-ID, CSeq number, Route set.
fn derived_request(req: &SipMessage, method: Method, to: &str) -> Option<Bytes> {
    let uri = req.request_uri()?;
    let via = req.vias().first()?;
    let mut b = RequestBuilder::new(method.clone(), uri)
        .header("Via", &via.to_string())
        .header("Max-Forwards", "70")
        .header("From", req.header("From")?)
        .header("To", to)
        .header("Call-ID", req.call_id())
        .header("CSeq", &format!("{} {}", req.cseq().seq, method.as_str()));
    for route in req.header_all("Route") {
        b = b.header("Route", route);
    }
    Some(b.build())
}

/// The ACK for a non-2xx final response to `invite` (§17.1.1.3): To comes from the response.
pub fn ack_for_non2xx(invite: &SipMessage, response: &SipMessage) -> Option<Bytes> {
    derived_request(invite, Method::Ack, response.header("To")?)
}

/// A CANCEL for `invite` (§9.1); send it as a new client transaction to the same destination.
pub fn cancel_for(invite: &SipMessage) -> Option<Bytes> {
    derived_request(invite, Method::Cancel, invite.header("To")?)
}

impl TransactionLayer {
    pub fn new(cfg: LayerConfig) -> Self {
        TransactionLayer {
            cfg,
            next_id: 1,
            servers: HashMap::new(),
            server_keys: HashMap::new(),
            ack_keys: HashMap::new(),
            clients: HashMap::new(),
            client_keys: HashMap::new(),
            timers: BinaryHeap::new(),
            stats: LayerStats::default(),
        }
    }

    pub fn config(&self) -> &LayerConfig {
        &self.cfg
    }

    pub fn stats(&self) -> LayerStats {
        self.stats
    }

    /// Live transactions (client, server).
    pub fn len(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.servers.is_empty()
    }

    /// Sizes of every internal index and the timer queue, for leak tests: (transactions,
    /// matching keys incl. RFC 6026 ACK keys, queued timer entries).
    pub fn footprint(&self) -> (usize, usize, usize) {
        (
            self.clients.len() + self.servers.len(),
            self.client_keys.len() + self.server_keys.len() + self.ack_keys.len(),
            self.timers.len(),
        )
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn arm(&mut self, at: Instant, tx: TxId) {
        self.timers.push(Reverse((at, tx)));
    }

    /// The earliest instant at which [`on_timer`](Self::on_timer) has work (may be early: then it
    /// simply does nothing).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    // ------------------------------------------------------------------ incoming

    /// Feed a message received from the network.
    pub fn on_message(
        &mut self,
        msg: SipMessage,
        source: SocketAddr,
        transport: TransportKind,
        now: Instant,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        if msg.is_request() {
            self.on_request(msg, source, transport, now, &mut out);
        } else {
            self.on_response(msg, source, now, &mut out);
        }
        out
    }

    fn on_request(
        &mut self,
        msg: SipMessage,
        source: SocketAddr,
        transport: TransportKind,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let Some(method) = msg.method().cloned() else {
            return;
        };
        let key = server_key(&msg, &method);
        if method == Method::Ack {
            self.on_ack(msg, key, source, transport, now, out);
            return;
        }
        if let Some(&id) = self.server_keys.get(&key) {
            // A retransmission: absorb it, repeating our last response (§17.2.1, §17.2.2).
            self.stats.absorbed_requests += 1;
            if let Some(tx) = self.servers.get(&id) {
                let resend = match tx.state {
                    ServerState::Proceeding | ServerState::Completed => tx.last_response.clone(),
                    // Accepted: the 2xx has its own retransmission timer (RFC 6026 §7.1).
                    ServerState::Trying | ServerState::Confirmed | ServerState::Accepted => None,
                };
                if let Some(bytes) = resend {
                    self.stats.retransmissions += 1;
                    out.push(Output::Transmit {
                        bytes,
                        dest: tx.dest,
                        transport: tx.transport,
                        retransmission: true,
                        fallback: tx.fallback,
                    });
                }
            }
            return;
        }
        let dest = response_destination(&msg, source, transport);
        let fallback = response_fallback(&msg, source, transport);
        if self.servers.len() + self.clients.len() >= self.cfg.max_transactions {
            out.push(Output::Transmit {
                bytes: msg
                    .response(503, "Service Unavailable")
                    .header("Retry-After", "5")
                    .build(),
                dest,
                transport,
                retransmission: false,
                fallback,
            });
            out.push(Output::Rejected {
                msg,
                source,
                status: 503,
            });
            return;
        }
        let invite = method == Method::Invite;
        let id = ServerTxId(self.alloc_id());
        let mut tx = ServerTx {
            key: key.clone(),
            invite,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            transport,
            dest,
            fallback,
            last_response: None,
            last_status: 0,
            retransmit_at: None,
            retransmit_interval: self.cfg.timers.t1,
            end_at: None,
            ack_key: None,
            acked: false,
        };
        if invite && self.cfg.auto_trying {
            let trying = msg.response(100, "Trying").build();
            out.push(Output::Transmit {
                bytes: trying.clone(),
                dest,
                transport,
                retransmission: false,
                fallback,
            });
            tx.last_response = Some(trying);
            tx.last_status = 100;
        }
        let cancels = if method == Method::Cancel {
            let invite_key = ServerKey {
                method: "INVITE".into(),
                ..key.clone()
            };
            self.server_keys.get(&invite_key).copied()
        } else {
            None
        };
        self.server_keys.insert(key, id);
        self.servers.insert(id, tx);
        out.push(Output::Request {
            tx: Some(id),
            msg,
            source,
            transport,
            cancels,
        });
    }

    fn on_ack(
        &mut self,
        msg: SipMessage,
        key: ServerKey,
        source: SocketAddr,
        transport: TransportKind,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let t4 = self.cfg.timers.t4;
        if let Some(&id) = self.server_keys.get(&key) {
            let Some(tx) = self.servers.get_mut(&id) else {
                return;
            };
            match tx.state {
                ServerState::Completed => {
                    // ACK for our non-2xx: stop Timer G/H, wait Timer I for stray retransmissions.
                    tx.state = ServerState::Confirmed;
                    tx.retransmit_at = None;
                    if is_reliable(tx.transport) {
                        self.terminate(TxId::Server(id), out);
                    } else {
                        let at = now + t4;
                        tx.end_at = Some(at);
                        self.arm(at, TxId::Server(id));
                    }
                    return;
                }
                ServerState::Confirmed => {
                    self.stats.absorbed_requests += 1;
                    return;
                }
                // Some UAs reuse the INVITE branch for the 2xx ACK: treat it as that ACK below.
                ServerState::Accepted => {}
                ServerState::Trying | ServerState::Proceeding => {
                    // An ACK before any final response is meaningless; drop it.
                    return;
                }
            }
        }
        if let Some(ack_key) = ack_key_of(&msg) {
            if let Some(&id) = self.ack_keys.get(&ack_key) {
                if let Some(tx) = self.servers.get_mut(&id) {
                    // Stop retransmitting the 2xx; stay Accepted until Timer L absorbs late copies.
                    tx.acked = true;
                    tx.retransmit_at = None;
                }
            }
        }
        out.push(Output::Request {
            tx: None,
            msg,
            source,
            transport,
            cancels: None,
        });
    }

    fn on_response(
        &mut self,
        msg: SipMessage,
        source: SocketAddr,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let Some(status) = msg.status() else {
            return;
        };
        let id = response_client_key(&msg).and_then(|k| self.client_keys.get(&k).copied());
        let Some(id) = id else {
            self.stats.stray_responses += 1;
            out.push(Output::StrayResponse { msg, source });
            return;
        };
        let timers = self.cfg.timers;
        let Some(tx) = self.clients.get_mut(&id) else {
            return;
        };
        let provisional = status < 200;
        if tx.invite {
            match (tx.state, status) {
                (ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                    tx.state = ClientState::Proceeding;
                    tx.retransmit_at = None;
                    tx.timeout_at = None;
                    out.push(Output::Response { tx: id, msg });
                }
                (ClientState::Trying | ClientState::Proceeding, 200..=299) => {
                    // RFC 6026: Accepted; Timer M lets retransmitted 2xx (and forks) reach the TU.
                    tx.state = ClientState::Accepted;
                    tx.retransmit_at = None;
                    tx.timeout_at = None;
                    tx.request = None;
                    let at = now + timers.t1x64();
                    tx.end_at = Some(at);
                    out.push(Output::Response { tx: id, msg });
                    self.arm(at, TxId::Client(id));
                }
                (ClientState::Trying | ClientState::Proceeding, _) => {
                    tx.state = ClientState::Completed;
                    tx.retransmit_at = None;
                    tx.timeout_at = None;
                    let ack = tx.request.take().and_then(|r| ack_for_non2xx(&r, &msg));
                    if let Some(ack) = &ack {
                        out.push(Output::Transmit {
                            bytes: ack.clone(),
                            dest: tx.dest,
                            transport: tx.transport,
                            retransmission: false,
                            fallback: None,
                        });
                    }
                    tx.ack = ack;
                    out.push(Output::Response { tx: id, msg });
                    if is_reliable(tx.transport) {
                        self.terminate(TxId::Client(id), out);
                    } else {
                        // Timer D: at least 32 s to absorb retransmitted finals.
                        let at = now + timers.t1x64().max(Duration::from_secs(32));
                        tx.end_at = Some(at);
                        self.arm(at, TxId::Client(id));
                    }
                }
                (ClientState::Accepted, 200..=299) => out.push(Output::Response { tx: id, msg }),
                (ClientState::Completed, 300..) => {
                    // A retransmitted non-2xx final: our ACK was lost, send it again.
                    if let Some(ack) = tx.ack.clone() {
                        self.stats.retransmissions += 1;
                        out.push(Output::Transmit {
                            bytes: ack,
                            dest: tx.dest,
                            transport: tx.transport,
                            retransmission: true,
                            fallback: None,
                        });
                    }
                }
                _ => {}
            }
        } else {
            match tx.state {
                ClientState::Trying | ClientState::Proceeding if provisional => {
                    tx.state = ClientState::Proceeding;
                    out.push(Output::Response { tx: id, msg });
                }
                ClientState::Trying | ClientState::Proceeding => {
                    tx.state = ClientState::Completed;
                    tx.retransmit_at = None;
                    tx.timeout_at = None;
                    tx.request = None;
                    out.push(Output::Response { tx: id, msg });
                    if is_reliable(tx.transport) {
                        self.terminate(TxId::Client(id), out);
                    } else {
                        // Timer K absorbs retransmitted responses.
                        let at = now + timers.t4;
                        tx.end_at = Some(at);
                        self.arm(at, TxId::Client(id));
                    }
                }
                ClientState::Completed | ClientState::Accepted => {}
            }
        }
    }

    // ------------------------------------------------------------------ from the TU

    /// Start a client transaction. `req` must carry our top Via with a fresh `z9hG4bK` branch.
    pub fn send_request(
        &mut self,
        req: SipMessage,
        dest: SocketAddr,
        transport: TransportKind,
        now: Instant,
    ) -> (ClientTxId, Vec<Output>) {
        let id = ClientTxId(self.alloc_id());
        let mut out = Vec::new();
        if req.method() == Some(&Method::Ack) {
            // An ACK is never a transaction (§17): send it once and report the id as finished.
            out.push(Output::Transmit {
                bytes: req.as_bytes().clone(),
                dest,
                transport,
                retransmission: false,
                fallback: None,
            });
            out.push(Output::Terminated {
                tx: TxId::Client(id),
            });
            return (id, out);
        }
        let invite = req.method() == Some(&Method::Invite);
        let key = match req.vias().first().and_then(|v| v.branch()) {
            Some(b) => ClientKey {
                branch: b.into(),
                method: req.cseq().method.as_str().into(),
            },
            // No branch: responses can never match; Timer B/F will report the timeout.
            None => ClientKey {
                branch: format!("no-branch-{}", id.0).into(),
                method: "".into(),
            },
        };
        if self.client_keys.contains_key(&key) {
            // The TU reused a live branch: responses could not tell the two apart. Refuse the
            // newcomer rather than orphan the older transaction.
            out.push(Output::TransportError { tx: id });
            out.push(Output::Terminated {
                tx: TxId::Client(id),
            });
            return (id, out);
        }
        let timers = self.cfg.timers;
        out.push(Output::Transmit {
            bytes: req.as_bytes().clone(),
            dest,
            transport,
            retransmission: false,
            fallback: None,
        });
        let retransmit_at = (!is_reliable(transport)).then(|| now + timers.t1);
        let timeout_at = now + timers.t1x64();
        self.client_keys.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientTx {
                key,
                invite,
                state: ClientState::Trying,
                transport,
                dest,
                request: Some(req),
                ack: None,
                retransmit_at,
                retransmit_interval: timers.t1,
                timeout_at: Some(timeout_at),
                end_at: None,
            },
        );
        if let Some(at) = retransmit_at {
            self.arm(at, TxId::Client(id));
        }
        self.arm(timeout_at, TxId::Client(id));
        (id, out)
    }

    /// Send a response on a server transaction. Sending on a finished or unknown transaction, or a
    /// second final response, does nothing (so the TU may call this idempotently).
    pub fn send_response(&mut self, id: ServerTxId, resp: SipMessage, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(status) = resp.status() else {
            return out;
        };
        let timers = self.cfg.timers;
        let Some(tx) = self.servers.get_mut(&id) else {
            return out;
        };
        let bytes = resp.as_bytes().clone();
        let transmit = |out: &mut Vec<Output>, tx: &ServerTx| {
            out.push(Output::Transmit {
                bytes: bytes.clone(),
                dest: tx.dest,
                transport: tx.transport,
                retransmission: false,
                fallback: tx.fallback,
            })
        };
        match (tx.state, status) {
            (ServerState::Trying | ServerState::Proceeding, 100..=199) => {
                if status == 100 && tx.last_status == 100 {
                    return out; // our automatic 100 Trying already went out
                }
                transmit(&mut out, tx);
                tx.state = ServerState::Proceeding;
                tx.last_response = Some(bytes.clone());
                tx.last_status = status;
            }
            (ServerState::Proceeding, 200..=299) if tx.invite => {
                transmit(&mut out, tx);
                // RFC 6026 Accepted: retransmit T1, 2T1… ≤ T2 until the ACK; Timer L ends it.
                tx.state = ServerState::Accepted;
                tx.last_response = Some(bytes.clone());
                tx.last_status = status;
                tx.retransmit_interval = timers.t1;
                let retransmit = now + timers.t1;
                let end = now + timers.t1x64();
                tx.retransmit_at = Some(retransmit);
                tx.end_at = Some(end);
                if let Some(k) = ack_key_of(&resp) {
                    tx.ack_key = Some(k.clone());
                    self.ack_keys.insert(k, id);
                }
                self.arm(retransmit, TxId::Server(id));
                self.arm(end, TxId::Server(id));
            }
            (ServerState::Accepted, 200..=299) => {
                // The TU may repeat its 2xx (e.g. a forked or resent answer); pass it through.
                transmit(&mut out, tx);
            }
            (ServerState::Proceeding, 300..) if tx.invite => {
                transmit(&mut out, tx);
                tx.state = ServerState::Completed;
                tx.last_response = Some(bytes.clone());
                tx.last_status = status;
                let end = now + timers.t1x64(); // Timer H
                tx.end_at = Some(end);
                let reliable = is_reliable(tx.transport);
                if !reliable {
                    let at = now + timers.t1; // Timer G
                    tx.retransmit_at = Some(at);
                    tx.retransmit_interval = timers.t1;
                    self.arm(at, TxId::Server(id));
                }
                self.arm(end, TxId::Server(id));
            }
            (ServerState::Trying | ServerState::Proceeding, 200..) if !tx.invite => {
                transmit(&mut out, tx);
                tx.state = ServerState::Completed;
                tx.last_response = Some(bytes.clone());
                tx.last_status = status;
                if is_reliable(tx.transport) {
                    self.terminate(TxId::Server(id), &mut out);
                } else {
                    let at = now + timers.t1x64(); // Timer J
                    tx.end_at = Some(at);
                    self.arm(at, TxId::Server(id));
                }
            }
            _ => {}
        }
        out
    }

    /// The shell could not deliver a client transaction's request (e.g. TCP connect failed).
    pub fn transport_error(&mut self, id: ClientTxId) -> Vec<Output> {
        let mut out = Vec::new();
        if self.clients.contains_key(&id) {
            out.push(Output::TransportError { tx: id });
            self.terminate(TxId::Client(id), &mut out);
        }
        out
    }

    // ------------------------------------------------------------------ timers

    /// Fire every timer due at `now`.
    pub fn on_timer(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some(Reverse((at, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match id {
                TxId::Client(c) => self.client_timers(c, now, &mut out),
                TxId::Server(s) => self.server_timers(s, now, &mut out),
            }
        }
        out
    }

    fn client_timers(&mut self, id: ClientTxId, now: Instant, out: &mut Vec<Output>) {
        let timers = self.cfg.timers;
        let Some(tx) = self.clients.get_mut(&id) else {
            return;
        };
        if tx.timeout_at.is_some_and(|t| t <= now) {
            // Timer B / F.
            out.push(Output::Timeout { tx: id });
            self.terminate(TxId::Client(id), out);
            return;
        }
        if tx.end_at.is_some_and(|t| t <= now) {
            // Timer D / K / M.
            self.terminate(TxId::Client(id), out);
            return;
        }
        if let (Some(request), true) = (&tx.request, tx.retransmit_at.is_some_and(|t| t <= now)) {
            // Timer A doubles without a cap; Timer E doubles up to T2, and sits at T2 in Proceeding.
            let interval = if tx.invite {
                tx.retransmit_interval * 2
            } else if tx.state == ClientState::Proceeding {
                timers.t2
            } else {
                (tx.retransmit_interval * 2).min(timers.t2)
            };
            tx.retransmit_interval = interval;
            let next = now + interval;
            tx.retransmit_at = Some(next);
            self.stats.retransmissions += 1;
            out.push(Output::Transmit {
                bytes: request.as_bytes().clone(),
                dest: tx.dest,
                transport: tx.transport,
                retransmission: true,
                fallback: None,
            });
            self.arm(next, TxId::Client(id));
        }
    }

    fn server_timers(&mut self, id: ServerTxId, now: Instant, out: &mut Vec<Output>) {
        let timers = self.cfg.timers;
        let Some(tx) = self.servers.get_mut(&id) else {
            return;
        };
        if tx.end_at.is_some_and(|t| t <= now) {
            // H (Completed) and L (Accepted, no ACK) mean the final response was never ACKed.
            let unacked = match tx.state {
                // Only an INVITE waits for an ACK: a non-INVITE transaction leaves Completed at Timer J (§17.2.2).
                ServerState::Completed => tx.invite,
                ServerState::Accepted => !tx.acked,
                _ => false,
            };
            if unacked {
                out.push(Output::AckTimeout { tx: id });
            }
            self.terminate(TxId::Server(id), out);
            return;
        }
        if tx.retransmit_at.is_some_and(|t| t <= now) {
            // Timer G, or the 2xx retransmission of RFC 6026: doubling, capped at T2.
            let interval = (tx.retransmit_interval * 2).min(timers.t2);
            tx.retransmit_interval = interval;
            let next = now + interval;
            tx.retransmit_at = Some(next);
            if let Some(bytes) = tx.last_response.clone() {
                self.stats.retransmissions += 1;
                out.push(Output::Transmit {
                    bytes,
                    dest: tx.dest,
                    transport: tx.transport,
                    retransmission: true,
                    fallback: tx.fallback,
                });
            }
            self.arm(next, TxId::Server(id));
        }
    }

    fn terminate(&mut self, id: TxId, out: &mut Vec<Output>) {
        match id {
            TxId::Client(c) => {
                if let Some(tx) = self.clients.remove(&c) {
                    if self.client_keys.get(&tx.key) == Some(&c) {
                        self.client_keys.remove(&tx.key);
                    }
                }
            }
            TxId::Server(s) => {
                if let Some(tx) = self.servers.remove(&s) {
                    if self.server_keys.get(&tx.key) == Some(&s) {
                        self.server_keys.remove(&tx.key);
                    }
                    if let Some(k) = tx.ack_key {
                        if self.ack_keys.get(&k) == Some(&s) {
                            self.ack_keys.remove(&k);
                        }
                    }
                }
            }
        }
        out.push(Output::Terminated { tx: id });
    }
}
