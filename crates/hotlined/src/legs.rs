//! The I/O side of one call's legs: each leg's INVITE session (`sip::session`, where every SIP rule
//! lives), its RTP port and the transactions its session started. This file only carries a session's
//! outputs to the endpoint and the network's events back; it decides nothing about SIP.

use crate::env::CallEnv;
use crate::mailbox::LegParts;
use crate::trunks::{Route, TrunkChannel};
use call::{LegId, Target};
use media::sdp::{self, Codec, Direction, SdpSession};
use media::{MediaEvent, MediaLeg, Negotiated};
use sip::dialog::new_call_id;
use sip::endpoint::{ClientTx, ServerTx, TransportKind, TxEvent};
use sip::session::{
    InviteSession, ReqKey, SessionConfig, SessionEvent, SessionOutput, SessionTimer, UacRequest,
};
use sip::{Replaces, SipMessage, Uri};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use tracing::{debug, info, warn};

/// One leg of a call.
/// What we offer a caller whose INVITE had none, in our order of preference (also how its ACK's answer is read).
pub const DELAYED_OFFER_CODECS: [Codec; 2] = [Codec::Pcma, Codec::Pcmu];

pub struct LegIo {
    pub id: LegId,
    pub session: InviteSession,
    /// Dropped as soon as the call gives the leg up, so a call never holds ports it does not use.
    pub media: Option<MediaLeg>,
    /// o= bookkeeping of our SDP on this leg: answers to re-offers keep the id and raise the version.
    pub sdp: SdpSession,
    /// What the leg negotiated (the caller's is re-applied at answer to start the media timeout then).
    pub negotiated: Option<Negotiated>,
    pub dest: SocketAddr,
    pub transport: TransportKind,
    /// Requests received on this leg, by the key we gave them.
    server: HashMap<ReqKey, ServerTx>,
    /// Requests this leg's session sent, by the session's key.
    client: Vec<(ReqKey, ClientTx)>,
    /// The key of our INVITE (outgoing legs), followed after the call ends until its final response.
    invite_key: Option<ReqKey>,
    invite_final: bool,
    next_key: ReqKey,
    /// A REFER from this leg waiting for the call's answer.
    pub refer_key: Option<ReqKey>,
    /// The dialog an attended REFER from this leg names (RFC 3891), until the call claims it.
    pub replaces: Option<Replaces>,
    /// The peer put us on hold (its last offer was sendonly or inactive).
    pub held: bool,
    /// The channel an outgoing leg holds on a pool gateway (released when dropped).
    pub trunk: Option<Box<TrunkChannel>>,
    /// Our INVITE has had a response (provisional or final) from the far end.
    pub heard: bool,
}

/// How a caller who asked for privacy (RFC 3323 §4.1.1.3) or sent no number is presented to seats.
pub const ANONYMOUS_FROM: &str = "\"Anonymous\" <sip:anonymous@anonymous.invalid>";

/// Something that happened on a leg.
pub enum LegWake {
    Media(LegId, MediaEvent),
    Tx(LegId, ReqKey, Option<Box<TxEvent>>),
}

/// Our session settings for a leg on `transport`.
pub fn session_config(env: &CallEnv, transport: TransportKind) -> SessionConfig {
    SessionConfig {
        contact: crate::tls::contact(env, transport, false),
        via: env.endpoint.via_sent_by(transport),
        ..SessionConfig::default()
    }
}

impl LegIo {
    /// The caller's leg: `invite` arrived on `invite_tx` (its key is 0).
    pub fn caller(
        env: &CallEnv,
        invite: SipMessage,
        invite_tx: ServerTx,
        source: SocketAddr,
        transport: TransportKind,
        media: Option<(MediaLeg, SdpSession, Option<Negotiated>)>,
        now_ms: i64,
    ) -> LegIo {
        let session = InviteSession::uas(session_config(env, transport), invite, 0, now_ms);
        let (media, sdp, negotiated) = match media {
            Some((m, s, n)) => (Some(m), s, n),
            None => (None, SdpSession::new(0), None),
        };
        LegIo {
            id: LegId::CALLER,
            session,
            media,
            sdp,
            negotiated,
            dest: source,
            transport,
            server: HashMap::from([(0, invite_tx)]),
            client: Vec::new(),
            invite_key: None,
            invite_final: true,
            next_key: 1,
            refer_key: None,
            replaces: None,
            held: false,
            trunk: None,
            heard: false,
        }
    }

    /// A new outgoing leg ringing `target`, offering the caller's codec first. `Err(status)` when it
    /// cannot even be tried (no registration 480, no gateway 503, bad URI 404, no RTP port 503).
    pub async fn dial(
        env: &CallEnv,
        id: LegId,
        target: &Target,
        caller: &str,
        caller_codec: Codec,
        now_ms: i64,
    ) -> Result<(LegIo, Vec<SessionOutput>), u16> {
        let (ruri, dest, transport, to, mut trunk) = resolve(env, target)?;
        let media = env.media.open_leg().await.map_err(|e| {
            warn!(error = %e, "no media port for the new leg");
            503u16
        })?;
        let codecs = match caller_codec {
            Codec::Pcma => [Codec::Pcma, Codec::Pcmu],
            Codec::Pcmu => [Codec::Pcmu, Codec::Pcma],
        };
        let mut sdp = crate::tls::sdp_session(transport);
        let offer = sdp::offer(
            media.local_addr(),
            &mut sdp,
            &codecs,
            101,
            Direction::SendRecv,
        );
        let domain = &env.cfg.sip.domain;
        let user = sanitize_user(caller);
        let anonymous = user.eq_ignore_ascii_case("anonymous");
        let mut extra_headers = Vec::new();
        if matches!(target, Target::Uri { .. }) {
            // Towards a trunk (RFC 3325 §9.1): our identity when configured, and the caller's wish.
            if let Some(id) = &env.trunks.asserted_identity {
                extra_headers.push(("P-Asserted-Identity".into(), format!("<{id}>")));
            }
            if anonymous {
                extra_headers.push(("Privacy".into(), "id".into()));
            }
        }
        let req = UacRequest {
            request_uri: ruri.clone(),
            from: if anonymous {
                ANONYMOUS_FROM.to_string()
            } else {
                format!("<sip:{user}@{domain}>")
            },
            to,
            call_id: new_call_id(domain),
            sdp_offer: Some(offer),
            extra_headers,
        };
        if let Some(t) = trunk.as_mut() {
            t.request = Some(req.clone());
        }
        let gateway = trunk.as_ref().map(|t| t.gateway_name());
        let mut config = session_config(env, transport);
        if ruri.scheme == sip::Scheme::Sips {
            config.contact = crate::tls::contact(env, transport, true);
        }
        let (session, out) = InviteSession::uac(config, req, now_ms);
        info!(leg = id.0, target = ?target, contact = %ruri, %dest, ?gateway, "ringing");
        let invite_key = out.iter().find_map(|o| match o {
            SessionOutput::Request { key, .. } => Some(*key),
            _ => None,
        });
        let leg = LegIo {
            id,
            session,
            media: Some(media),
            sdp,
            negotiated: None,
            dest,
            transport,
            server: HashMap::new(),
            client: Vec::new(),
            invite_key,
            invite_final: false,
            next_key: 1,
            refer_key: None,
            replaces: None,
            held: false,
            trunk,
            heard: false,
        };
        Ok((leg, out))
    }

    /// The same INVITE again, with a new Call-ID, to the next gateway of this leg's trunk channel
    /// (`TrunkChannel::fail_over` chose it); the old session is over (its INVITE got a final answer).
    /// Returns the old Call-ID and the new session's outputs; with `park`, the old session (its INVITE
    /// still unanswered) as a leg of its own under that id, without media, to be hung up and followed
    /// to its end.
    pub fn redial(
        &mut self,
        env: &CallEnv,
        now_ms: i64,
        park: Option<LegId>,
    ) -> Option<(String, Vec<SessionOutput>, Option<LegIo>)> {
        let trunk = self.trunk.as_ref()?;
        let (dest, transport) = trunk.address()?;
        let mut req = trunk.request.clone()?;
        req.call_id = new_call_id(&env.cfg.sip.domain);
        let (session, out) = InviteSession::uac(session_config(env, transport), req, now_ms);
        let old = std::mem::replace(&mut self.session, session);
        info!(leg = self.id.0, %dest, gateway = trunk.gateway_name(), "ringing the next gateway");
        let old_call_id = old.call_id().to_string();
        let (old_dest, old_transport) = (self.dest, self.transport);
        (self.dest, self.transport) = (dest, transport);
        let old_client = std::mem::take(&mut self.client);
        let old_key = std::mem::replace(
            &mut self.invite_key,
            out.iter().find_map(|o| match o {
                SessionOutput::Request { key, .. } => Some(*key),
                _ => None,
            }),
        );
        let old_final = std::mem::replace(&mut self.invite_final, false);
        self.heard = false;
        let parked = park.map(|id| LegIo {
            id,
            session: old,
            media: None,
            sdp: SdpSession::new(0),
            negotiated: None,
            dest: old_dest,
            transport: old_transport,
            server: HashMap::new(),
            client: old_client,
            invite_key: old_key,
            invite_final: old_final,
            next_key: 1,
            refer_key: None,
            replaces: None,
            held: false,
            trunk: None,
            heard: false,
        });
        Some((old_call_id, out, parked))
    }

    /// Take the leg apart to move it to another call (`timers`: its session timers, taken from the wheel).
    pub fn into_parts(self, timers: Vec<(i64, SessionTimer)>) -> LegParts {
        LegParts {
            session: self.session,
            media: self.media,
            sdp: self.sdp,
            negotiated: self.negotiated,
            dest: self.dest,
            transport: self.transport,
            server: self.server,
            client: self.client,
            invite_key: self.invite_key,
            invite_final: self.invite_final,
            next_key: self.next_key,
            trunk: self.trunk,
            timers,
        }
    }

    /// A leg moved here from another call, as leg `id`; its session timers to re-arm.
    pub fn from_parts(id: LegId, p: LegParts) -> (LegIo, Vec<(i64, SessionTimer)>) {
        let leg = LegIo {
            id,
            session: p.session,
            media: p.media,
            sdp: p.sdp,
            negotiated: p.negotiated,
            dest: p.dest,
            transport: p.transport,
            server: p.server,
            client: p.client,
            invite_key: p.invite_key,
            invite_final: p.invite_final,
            next_key: p.next_key,
            refer_key: None,
            replaces: None,
            held: false,
            trunk: p.trunk,
            heard: true,
        };
        (leg, p.timers)
    }

    /// A request for this leg from the network: keep its transaction to answer on, hand it to the session.
    pub fn on_request(
        &mut self,
        msg: &SipMessage,
        tx: Option<ServerTx>,
        now_ms: i64,
    ) -> Vec<SessionOutput> {
        let key = self.next_key;
        self.next_key += 1;
        if let Some(tx) = tx {
            self.server.insert(key, tx);
        }
        self.session.on_request(key, msg, now_ms)
    }

    /// Send what the session asked for; returns its events and the timers it wants.
    pub fn carry_out(
        &mut self,
        env: &CallEnv,
        outputs: Vec<SessionOutput>,
    ) -> (Vec<SessionEvent>, Vec<(SessionTimer, i64)>) {
        let mut events = Vec::new();
        let mut timers = Vec::new();
        for out in outputs {
            match out {
                SessionOutput::Request { key, request } => {
                    let tx = env.endpoint.request(request, self.dest, self.transport);
                    self.client.push((key, tx));
                }
                SessionOutput::Ack { ack } => {
                    env.endpoint.send_raw(ack.wire(), self.dest, self.transport)
                }
                SessionOutput::Respond { key, response } => {
                    let last = response.status().is_none_or(|s| s >= 200);
                    let tx = if last {
                        self.server.remove(&key)
                    } else {
                        self.server.get(&key).cloned()
                    };
                    match tx {
                        Some(tx) => tx.respond(response),
                        None => debug!(key, "response for a request without a transaction"),
                    }
                }
                SessionOutput::StartTimer { timer, after_ms } => timers.push((timer, after_ms)),
                SessionOutput::Event(e) => events.push(e),
            }
        }
        (events, timers)
    }

    /// A transaction event: the INVITE's final response is remembered (the drain after the call
    /// ends follows only INVITEs still waiting for one).
    pub fn on_tx_event(
        &mut self,
        key: ReqKey,
        ev: Option<Box<TxEvent>>,
        now_ms: i64,
    ) -> Vec<SessionOutput> {
        let Some(ev) = ev else {
            self.client.retain(|(k, _)| *k != key);
            return Vec::new();
        };
        if Some(key) == self.invite_key
            && matches!(
                *ev,
                TxEvent::Final(_) | TxEvent::Timeout | TxEvent::TransportError
            )
        {
            self.invite_final = true;
        }
        if Some(key) == self.invite_key
            && matches!(*ev, TxEvent::Provisional(_) | TxEvent::Final(_))
        {
            self.heard = true;
        }
        self.session.on_tx_event(key, *ev, now_ms)
    }

    /// Answer an offer (re-INVITE or UPDATE) from our RTP port; an offer we cannot serve is refused.
    pub fn answer_offer(&mut self, key: ReqKey, offer: &str, now_ms: i64) -> Vec<SessionOutput> {
        let Some(media) = &self.media else {
            return self.session.reject_offer(key, 488);
        };
        match sdp::answer(offer, media.local_addr(), &mut self.sdp) {
            Ok((neg, body)) => {
                media.set_remote(&neg);
                crate::tls::key_media(media, &self.sdp);
                debug!(leg = self.id.0, direction = ?neg.direction, "offer answered");
                self.negotiated = Some(neg);
                self.session.accept_offer(key, &body, now_ms)
            }
            Err(e) => self.session.reject_offer(key, e.status),
        }
    }

    /// The call's answer to this leg's pending REFER: 202 starts its subscription, anything else refuses it.
    pub fn reply_refer(&mut self, status: u16) -> Vec<SessionOutput> {
        match self.refer_key.take() {
            Some(key) if status == 202 => self.session.accept_refer(key),
            Some(key) => self.session.reject_refer(key, status),
            None => Vec::new(),
        }
    }

    /// The caller's answer in its ACK to our offer (a delayed offer). False when there is none or none we can
    /// use: the call cannot carry audio and ends.
    pub fn accept_ack_answer(&mut self, answer: Option<&str>) -> bool {
        let Some(media) = &self.media else {
            return false;
        };
        let answer = answer.unwrap_or("");
        let crypto = sdp::accept_crypto(answer, &mut self.sdp);
        match sdp::accept_answer(answer, &DELAYED_OFFER_CODECS).and_then(|n| crypto.map(|()| n)) {
            Ok(neg) => {
                media.set_remote(&neg);
                crate::tls::key_media(media, &self.sdp);
                self.negotiated = Some(neg);
                true
            }
            Err(e) => {
                warn!(leg = self.id.0, error = %e, "delayed offer: the ACK brought no usable answer");
                false
            }
        }
    }

    /// The answer in a 2xx to our INVITE.
    pub fn accept_answer(&mut self, answer: Option<&str>) {
        let Some(media) = &self.media else { return };
        let answer = answer.unwrap_or("");
        let crypto = sdp::accept_crypto(answer, &mut self.sdp);
        match sdp::accept_answer(answer, &[Codec::Pcmu, Codec::Pcma])
            .and_then(|n| crypto.map(|()| n))
        {
            Ok(neg) => {
                media.set_remote(&neg);
                crate::tls::key_media(media, &self.sdp);
                self.negotiated = Some(neg);
            }
            Err(e) => warn!(leg = self.id.0, error = %e, "answer SDP unusable"),
        }
    }

    /// Still worth following after the call ended: an INVITE of ours with no final response yet
    /// (a 2xx racing our CANCEL must get its ACK and BYE).
    pub fn draining(&self) -> bool {
        !self.invite_final && !self.client.is_empty()
    }

    /// The next media or transaction event of any of `legs`; `media`: whether media events count
    /// (after the call ended only transactions do).
    pub fn poll_any(legs: &mut [LegIo], media: bool, cx: &mut Context<'_>) -> Poll<LegWake> {
        for leg in legs.iter_mut() {
            if media {
                if let Some(m) = leg.media.as_mut() {
                    if let Poll::Ready(Some(ev)) = m.poll_event(cx) {
                        return Poll::Ready(LegWake::Media(leg.id, ev));
                    }
                }
            }
            for (key, tx) in leg.client.iter_mut() {
                if let Poll::Ready(ev) = tx.poll_next(cx) {
                    return Poll::Ready(LegWake::Tx(leg.id, *key, ev.map(Box::new)));
                }
            }
        }
        Poll::Pending
    }
}

/// The media of leg `id`, while the call uses it.
pub fn media_of(legs: &[LegIo], id: LegId) -> Option<&MediaLeg> {
    legs.iter().find(|l| l.id == id)?.media.as_ref()
}

/// The call's media topology as the engine holds it: relays between two legs, at most one mix.
#[derive(Default)]
pub struct Mixing {
    conference: Option<(Vec<LegId>, media::Conference)>,
}

impl Mixing {
    /// Relay `a` ⇄ `b` (a mix they were in ends).
    pub fn bridge(&mut self, legs: &[LegIo], a: LegId, b: LegId) {
        self.conference = None;
        if let (Some(ma), Some(mb)) = (media_of(legs, a), media_of(legs, b)) {
            media::bridge(ma, mb);
        }
    }

    /// Mix `members`: each hears the others.
    pub fn mix(&mut self, legs: &[LegIo], members: Vec<LegId>) {
        let media: Vec<&MediaLeg> = members.iter().filter_map(|l| media_of(legs, *l)).collect();
        let conf = media::conference(&media);
        self.conference = Some((members, conf));
    }

    /// Take `leg` out of any relay or mix (the call re-links the others with its next output).
    pub fn isolate(&mut self, legs: &[LegIo], leg: LegId) {
        if self
            .conference
            .as_ref()
            .is_some_and(|(m, _)| m.contains(&leg))
        {
            self.conference = None;
        }
        let Some(ml) = media_of(legs, leg) else {
            return;
        };
        for other in legs.iter().filter(|l| l.id != leg) {
            if let Some(mo) = &other.media {
                media::unbridge(ml, mo);
            }
        }
    }
}

/// Where a leg for `target` goes: (Request-URI, address, transport, To, the pool channel it holds).
type Resolved = (
    Uri,
    SocketAddr,
    TransportKind,
    String,
    Option<Box<TrunkChannel>>,
);

fn resolve(env: &CallEnv, target: &Target) -> Result<Resolved, u16> {
    let domain = &env.cfg.sip.domain;
    match target {
        Target::Seat { seat } => {
            let Some(c) = env.seats.contact(seat) else {
                info!(seat, "seat has no registration left");
                return Err(480);
            };
            Ok((
                c.uri,
                c.dest,
                c.transport,
                format!("<sip:{seat}@{domain}>"),
                None,
            ))
        }
        Target::Group { group } => {
            // Groups are rung seat by seat after the ACD reserved them (Output::ReserveSeats).
            warn!(group, "a seat group cannot be dialled as one leg");
            Err(480)
        }
        Target::Uri { uri, gateway } => {
            let parsed = Uri::parse(uri).map_err(|_| 404u16)?;
            let port = parsed.port.unwrap_or(5060);
            let mut transport = match parsed.param("transport").flatten() {
                Some(t) if t.eq_ignore_ascii_case("tcp") => TransportKind::Tcp,
                _ => TransportKind::Udp,
            };
            let host = match (gateway, parsed.host.parse::<std::net::IpAddr>()) {
                (None, Ok(ip)) => {
                    let to = format!("<{parsed}>");
                    return Ok((parsed, SocketAddr::new(ip, port), transport, to, None));
                }
                (Some(g), _) => g.clone(),
                (None, Err(_)) => parsed.host.clone(),
            };
            let (dest, trunk) = match env.trunks.route(&host)? {
                Route::Fixed(dest) => (dest, None),
                Route::Pool(ch) => {
                    let Some((dest, t)) = ch.address() else {
                        return Err(503);
                    };
                    transport = t;
                    (dest, Some(ch))
                }
            };
            let to = format!("<{parsed}>");
            Ok((parsed, dest, transport, to, trunk))
        }
    }
}

/// Users in URIs we build from a caller's number: keep it a valid user part.
fn sanitize_user(s: &str) -> String {
    let u: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_' | '*' | '#'))
        .collect();
    if u.is_empty() {
        "anonymous".into()
    } else {
        u
    }
}
