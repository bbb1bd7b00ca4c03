//! RFC 3261 §12 dialogs: identity, CSeq spaces, route sets and building in-dialog requests.
//!
//! A [`Dialog`] is plain data; the TU keeps them in a map keyed by [`DialogId`] and answers 481
//! to any request that carries a To tag but matches no dialog ([`DialogId::of_incoming`]).

use std::fmt;

use rand::Rng;

use crate::header::Param;
use crate::transaction::MAGIC_COOKIE;
use crate::{Contact, Method, NameAddr, RequestBuilder, Scheme, SipMessage, Uri};

/// What identifies a dialog at this UA (§12): Call-ID plus our tag and the peer's tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog an incoming request claims to belong to (ours is the To tag, §12.2.2).
    /// None for requests outside a dialog (no To tag).
    pub fn of_incoming(req: &SipMessage) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id().to_owned(),
            local_tag: req.to().tag()?.to_owned(),
            remote_tag: req.from().tag().unwrap_or("").to_owned(),
        })
    }

    /// The dialog a response to our request belongs to (ours is the From tag).
    pub fn of_response(resp: &SipMessage) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.call_id().to_owned(),
            local_tag: resp.from().tag()?.to_owned(),
            remote_tag: resp.to().tag()?.to_owned(),
        })
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};l={};r={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}

/// Why a dialog could not be created from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogError {
    /// The request/response lacks something §12.1 needs (named).
    Missing(&'static str),
    /// A Contact or Record-Route header could not be parsed.
    BadHeader(String),
}

impl fmt::Display for DialogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialogError::Missing(what) => write!(f, "cannot create dialog: missing {what}"),
            DialogError::BadHeader(why) => write!(f, "cannot create dialog: {why}"),
        }
    }
}

impl std::error::Error for DialogError {}

/// Dialog state (§12.1): Early after a provisional with a To tag, Confirmed after a 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// Our From/To address (URI plus display name, tag params stripped).
    pub local: NameAddr,
    pub remote: NameAddr,
    /// Last CSeq we used; None for a UAS that has not sent a request yet.
    pub local_cseq: Option<u32>,
    /// Highest CSeq seen from the peer; None until its first in-dialog request (UAC side).
    pub remote_cseq: Option<u32>,
    /// The peer's Contact: the Request-URI of our in-dialog requests.
    pub remote_target: Uri,
    /// Our Contact, sent in target-refresh requests.
    pub local_contact: Uri,
    /// In the order our requests must visit them (already reversed for the UAC).
    pub route_set: Vec<NameAddr>,
    pub secure: bool,
    pub state: DialogState,
}

fn strip_tag(na: &NameAddr) -> NameAddr {
    let mut na = na.clone();
    na.params.retain(|(k, _)| !k.eq_ignore_ascii_case("tag"));
    na
}

fn first_contact_uri(msg: &SipMessage) -> Result<Option<Uri>, DialogError> {
    let contacts = msg
        .contacts()
        .map_err(|e| DialogError::BadHeader(e.to_string()))?;
    Ok(contacts.into_iter().find_map(|c| match c {
        Contact::Addr(na) => Some(na.uri),
        Contact::Star => None,
    }))
}

/// A random CSeq start below 2^31 (§8.1.1.5).
fn initial_cseq() -> u32 {
    rand::thread_rng().gen_range(1..1 << 20)
}

impl Dialog {
    /// The dialog a UAS creates when it answers `invite` (§12.1.1) with `local_tag` in the To.
    pub fn uas(
        invite: &SipMessage,
        local_tag: &str,
        local_contact: &Uri,
    ) -> Result<Dialog, DialogError> {
        let remote_tag = invite.from().tag().unwrap_or("").to_owned();
        let remote_target = first_contact_uri(invite)?.ok_or(DialogError::Missing("Contact"))?;
        let route_set = invite
            .record_routes()
            .map_err(|e| DialogError::BadHeader(e.to_string()))?;
        let secure = invite
            .request_uri()
            .is_some_and(|u| u.scheme == Scheme::Sips);
        Ok(Dialog {
            call_id: invite.call_id().to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag,
            local: strip_tag(invite.to()),
            remote: strip_tag(invite.from()),
            local_cseq: None,
            remote_cseq: Some(invite.cseq().seq),
            remote_target,
            local_contact: local_contact.clone(),
            route_set,
            secure,
            state: DialogState::Confirmed,
        })
    }

    /// The dialog a UAC gets from a 1xx (with To tag) or 2xx `response` to its `invite_sent`
    /// (§12.1.2): the route set is the response's Record-Route reversed.
    pub fn uac(invite_sent: &SipMessage, response: &SipMessage) -> Result<Dialog, DialogError> {
        let remote_tag = response
            .to()
            .tag()
            .ok_or(DialogError::Missing("To tag"))?
            .to_owned();
        let local_tag = invite_sent
            .from()
            .tag()
            .ok_or(DialogError::Missing("From tag"))?
            .to_owned();
        let remote_target = first_contact_uri(response)?.ok_or(DialogError::Missing("Contact"))?;
        let local_contact =
            first_contact_uri(invite_sent)?.ok_or(DialogError::Missing("our Contact"))?;
        let mut route_set = response
            .record_routes()
            .map_err(|e| DialogError::BadHeader(e.to_string()))?;
        route_set.reverse();
        let secure = invite_sent
            .request_uri()
            .is_some_and(|u| u.scheme == Scheme::Sips);
        let state = if response.status().is_some_and(|s| (200..300).contains(&s)) {
            DialogState::Confirmed
        } else {
            DialogState::Early
        };
        Ok(Dialog {
            call_id: invite_sent.call_id().to_owned(),
            local_tag,
            remote_tag,
            local: strip_tag(invite_sent.from()),
            remote: strip_tag(response.to()),
            local_cseq: Some(invite_sent.cseq().seq),
            remote_cseq: None,
            remote_target,
            local_contact,
            route_set,
            secure,
            state,
        })
    }

    pub fn id(&self) -> DialogId {
        DialogId {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: self.remote_tag.clone(),
        }
    }

    /// A 2xx after an early dialog confirms it; its Contact and Record-Route become final
    /// (§12.1.2, §13.2.2.4).
    pub fn confirm(&mut self, response_2xx: &SipMessage) -> Result<(), DialogError> {
        if let Some(target) = first_contact_uri(response_2xx)? {
            self.remote_target = target;
        }
        let mut route_set = response_2xx
            .record_routes()
            .map_err(|e| DialogError::BadHeader(e.to_string()))?;
        route_set.reverse();
        self.route_set = route_set;
        self.state = DialogState::Confirmed;
        Ok(())
    }

    /// A target refresh (re-INVITE, UPDATE, or its 2xx) replaces the remote target (§12.2).
    pub fn refresh_target(&mut self, msg: &SipMessage) -> Result<(), DialogError> {
        if let Some(target) = first_contact_uri(msg)? {
            self.remote_target = target;
        }
        Ok(())
    }

    /// Check and record the CSeq of an in-dialog request from the peer (§12.2.2). False means
    /// out of order: answer 500. ACK and CANCEL reuse their INVITE's number and always pass.
    pub fn accepts_remote_cseq(&mut self, req: &SipMessage) -> bool {
        let seq = req.cseq().seq;
        if matches!(req.method(), Some(Method::Ack | Method::Cancel)) {
            return true;
        }
        match self.remote_cseq {
            Some(last) if seq <= last => false,
            _ => {
                self.remote_cseq = Some(seq);
                true
            }
        }
    }

    /// The next in-dialog request (§12.2.1.1): next CSeq, Request-URI and Route from the route set
    /// (loose or strict routing), From/To with tags, Call-ID, Max-Forwards, Contact. The caller
    /// adds the Via (with a fresh branch) and any body.
    pub fn request(&mut self, method: Method) -> RequestBuilder {
        let seq = match self.local_cseq {
            Some(n) => n.wrapping_add(1),
            None => initial_cseq(),
        };
        self.local_cseq = Some(seq);
        self.build(method, seq)
    }

    /// The ACK for a 2xx to our INVITE (§13.2.2.4): same CSeq number, method ACK.
    pub fn ack_for(&self, response_2xx: &SipMessage) -> RequestBuilder {
        self.build(Method::Ack, response_2xx.cseq().seq)
    }

    /// Request-URI and Route values per §12.2.1.1.
    fn target_and_routes(&self) -> (Uri, Vec<String>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if first.uri.param("lr").is_some() => (
                self.remote_target.clone(),
                self.route_set.iter().map(|r| r.to_string()).collect(),
            ),
            Some(first) => {
                // Strict router: it becomes the Request-URI; the remote target goes last.
                let mut uri = first.uri.clone();
                uri.headers.clear();
                let mut routes: Vec<String> =
                    self.route_set[1..].iter().map(|r| r.to_string()).collect();
                routes.push(format!("<{}>", self.remote_target));
                (uri, routes)
            }
        }
    }

    fn build(&self, method: Method, seq: u32) -> RequestBuilder {
        let (uri, routes) = self.target_and_routes();
        let from = with_tag(&self.local, &self.local_tag);
        let to = with_tag(&self.remote, &self.remote_tag);
        let mut b = RequestBuilder::new(method.clone(), &uri)
            .header("Max-Forwards", "70")
            .header("From", &from)
            .header("To", &to)
            .header("Call-ID", &self.call_id)
            .header("CSeq", &format!("{} {}", seq, method.as_str()));
        for r in &routes {
            b = b.header("Route", r);
        }
        if !matches!(method, Method::Ack | Method::Cancel | Method::Bye) {
            b = b.header("Contact", &format!("<{}>", self.local_contact));
        }
        b
    }
}

fn with_tag(na: &NameAddr, tag: &str) -> String {
    let mut na = na.clone();
    if !tag.is_empty() {
        let p: Param = ("tag".to_owned(), Some(tag.to_owned()));
        na.params.push(p);
    }
    na.to_string()
}

fn random_token(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(bytes * 2);
    for _ in 0..bytes {
        let b: u8 = rng.gen();
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A From/To tag: 64 random bits (§19.3 asks for at least 32).
pub fn new_tag() -> String {
    random_token(8)
}

/// A Via branch unique in space and time, with the RFC 3261 magic cookie.
pub fn new_branch() -> String {
    format!("{MAGIC_COOKIE}{}", random_token(12))
}

/// A Call-ID `random@host` (§8.1.1.4).
pub fn new_call_id(host: &str) -> String {
    format!("{}@{}", random_token(16), host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(text: &str) -> SipMessage {
        SipMessage::parse(Bytes::from(text.replace('\n', "\r\n"))).unwrap()
    }

    fn invite_with(uri: &str, extra: &str) -> SipMessage {
        msg(&format!(
            "INVITE {uri} SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1
Max-Forwards: 70
From: \"Caller\" <sip:13800000000@carrier.example>;tag=caller-tag
To: <sip:12345@hotline.example>
Call-ID: dlg-1@10.0.0.2
CSeq: 10 INVITE
Contact: <sip:13800000000@10.0.0.2:5060>
{extra}Content-Length: 0

"
        ))
    }

    fn our_contact() -> Uri {
        Uri::parse("sip:12345@10.0.0.1:5060").unwrap()
    }

    #[test]
    fn uas_dialog_keeps_record_route_order_and_builds_in_dialog_requests() {
        let inv = invite_with(
            "sip:12345@hotline.example",
            "Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\n",
        );
        let mut d = Dialog::uas(&inv, "our-tag", &our_contact()).unwrap();
        assert_eq!(d.remote_tag, "caller-tag");
        assert_eq!(d.remote_cseq, Some(10));
        assert_eq!(d.local_cseq, None);
        assert_eq!(d.remote_target.host, "10.0.0.2");
        assert_eq!(d.route_set.len(), 2);
        assert_eq!(d.route_set[0].uri.host, "p1.example");
        assert!(!d.secure);
        assert_eq!(
            d.id(),
            DialogId {
                call_id: "dlg-1@10.0.0.2".into(),
                local_tag: "our-tag".into(),
                remote_tag: "caller-tag".into()
            }
        );

        let bye = d
            .request(Method::Bye)
            .header("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKb")
            .build_message();
        // Loose routing: Request-URI is the remote target, Route is the route set in order.
        assert_eq!(bye.request_uri().unwrap().host, "10.0.0.2");
        assert_eq!(
            bye.header_all("Route"),
            vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        assert_eq!(bye.from().tag(), Some("our-tag"));
        assert_eq!(bye.from().uri.user.as_deref(), Some("12345"));
        assert_eq!(bye.to().tag(), Some("caller-tag"));
        assert_eq!(bye.to().display.as_deref(), Some("Caller"));
        assert_eq!(bye.call_id(), "dlg-1@10.0.0.2");
        assert_eq!(bye.max_forwards(), Some(70));
        let first = bye.cseq().seq;
        assert!(first < 1 << 31);
        let info = d
            .request(Method::Info)
            .header("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc")
            .build_message();
        assert_eq!(info.cseq().seq, first + 1);
        assert_eq!(info.cseq().method, Method::Info);
        // Seen from the peer, our BYE belongs to its dialog (its tag is the To tag).
        let peer_view = DialogId::of_incoming(&bye).unwrap();
        assert_eq!(peer_view.local_tag, "caller-tag");
        assert_eq!(peer_view.remote_tag, "our-tag");
    }

    #[test]
    fn uac_dialog_reverses_record_route_and_acks_with_the_invite_cseq() {
        let inv = invite_with("sip:12345@hotline.example", "");
        let ok = msg("SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1
From: \"Caller\" <sip:13800000000@carrier.example>;tag=caller-tag
To: <sip:12345@hotline.example>;tag=callee-tag
Call-ID: dlg-1@10.0.0.2
CSeq: 10 INVITE
Record-Route: <sip:p1.example;lr>
Record-Route: <sip:p2.example;lr>
Contact: <sip:seat1001@10.0.0.9:5070>
Content-Length: 0

");
        let mut d = Dialog::uac(&inv, &ok).unwrap();
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.local_tag, "caller-tag");
        assert_eq!(d.remote_tag, "callee-tag");
        assert_eq!(d.id(), DialogId::of_response(&ok).unwrap());
        let hosts: Vec<_> = d.route_set.iter().map(|r| r.uri.host.as_str()).collect();
        assert_eq!(hosts, vec!["p2.example", "p1.example"]);
        assert_eq!(d.remote_target.port, Some(5070));

        let ack = d
            .ack_for(&ok)
            .header("Via", "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKa")
            .build_message();
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(ack.cseq().seq, 10);
        assert_eq!(ack.cseq().method, Method::Ack);
        assert_eq!(ack.request_uri().unwrap().user.as_deref(), Some("seat1001"));
        assert_eq!(ack.to().tag(), Some("callee-tag"));
        assert!(ack.header("Contact").is_none());

        let bye = d
            .request(Method::Bye)
            .header("Via", "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb")
            .build_message();
        assert_eq!(bye.cseq().seq, 11);
        let reinvite = d
            .request(Method::Invite)
            .header("Via", "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKr")
            .build_message();
        assert_eq!(reinvite.cseq().seq, 12);
        assert_eq!(
            reinvite.contacts().unwrap().len(),
            1,
            "target refresh carries our Contact"
        );
    }

    #[test]
    fn early_dialog_is_confirmed_by_the_2xx() {
        let inv = invite_with("sip:12345@hotline.example", "");
        let ringing = msg("SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1
From: <sip:13800000000@carrier.example>;tag=caller-tag
To: <sip:12345@hotline.example>;tag=callee-tag
Call-ID: dlg-1@10.0.0.2
CSeq: 10 INVITE
Contact: <sip:early@10.0.0.9>
Content-Length: 0

");
        let mut d = Dialog::uac(&inv, &ringing).unwrap();
        assert_eq!(d.state, DialogState::Early);
        let ok = msg("SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1
From: <sip:13800000000@carrier.example>;tag=caller-tag
To: <sip:12345@hotline.example>;tag=callee-tag
Call-ID: dlg-1@10.0.0.2
CSeq: 10 INVITE
Record-Route: <sip:p1.example;lr>
Contact: <sip:final@10.0.0.9>
Content-Length: 0

");
        d.confirm(&ok).unwrap();
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.remote_target.user.as_deref(), Some("final"));
        assert_eq!(d.route_set.len(), 1);
        // A 1xx without To tag makes no dialog.
        let trying = msg("SIP/2.0 100 Trying
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1
From: <sip:13800000000@carrier.example>;tag=caller-tag
To: <sip:12345@hotline.example>
Call-ID: dlg-1@10.0.0.2
CSeq: 10 INVITE
Content-Length: 0

");
        assert_eq!(
            Dialog::uac(&inv, &trying),
            Err(DialogError::Missing("To tag"))
        );
    }

    #[test]
    fn strict_router_becomes_the_request_uri() {
        let inv = invite_with(
            "sips:12345@hotline.example",
            "Record-Route: <sip:strict.example>, <sip:p2.example;lr>\n",
        );
        let mut d = Dialog::uas(&inv, "t", &our_contact()).unwrap();
        assert!(d.secure);
        let bye = d
            .request(Method::Bye)
            .header("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKs")
            .build_message();
        assert_eq!(bye.request_uri().unwrap().host, "strict.example");
        assert_eq!(
            bye.header_all("Route"),
            vec!["<sip:p2.example;lr>", "<sip:13800000000@10.0.0.2:5060>"]
        );
    }

    #[test]
    fn remote_cseq_must_increase() {
        let inv = invite_with("sip:12345@hotline.example", "");
        let mut d = Dialog::uas(&inv, "t", &our_contact()).unwrap();
        let req = |method: &str, seq: u32| {
            msg(&format!(
                "{method} sip:12345@10.0.0.1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK{seq}{method}
From: <sip:13800000000@carrier.example>;tag=caller-tag
To: <sip:12345@hotline.example>;tag=t
Call-ID: dlg-1@10.0.0.2
CSeq: {seq} {method}
Content-Length: 0

"
            ))
        };
        assert!(
            d.accepts_remote_cseq(&req("ACK", 10)),
            "ACK reuses the INVITE's number"
        );
        assert!(!d.accepts_remote_cseq(&req("INFO", 9)), "older → 500");
        assert!(!d.accepts_remote_cseq(&req("INFO", 10)));
        assert!(d.accepts_remote_cseq(&req("INFO", 11)));
        assert!(!d.accepts_remote_cseq(&req("BYE", 11)));
        assert!(d.accepts_remote_cseq(&req("BYE", 20)));
        assert_eq!(d.remote_cseq, Some(20));
        let id = DialogId::of_incoming(&req("BYE", 21)).unwrap();
        assert_eq!(id, d.id());
    }

    #[test]
    fn dialog_needs_a_contact() {
        let inv = msg("INVITE sip:12345@hotline.example SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK1
From: <sip:13800000000@carrier.example>;tag=caller-tag
To: <sip:12345@hotline.example>
Call-ID: dlg-2@10.0.0.2
CSeq: 1 INVITE
Content-Length: 0

");
        assert_eq!(
            Dialog::uas(&inv, "t", &our_contact()),
            Err(DialogError::Missing("Contact"))
        );
        assert_eq!(
            DialogId::of_incoming(&inv),
            None,
            "no To tag: not in a dialog"
        );
    }

    #[test]
    fn identifiers_are_random_and_well_formed() {
        let b1 = new_branch();
        let b2 = new_branch();
        assert!(b1.starts_with("z9hG4bK"));
        assert_ne!(b1, b2);
        assert_ne!(new_tag(), new_tag());
        assert_eq!(new_tag().len(), 16);
        let c = new_call_id("hotline.example");
        assert!(c.ends_with("@hotline.example"));
        assert_ne!(c, new_call_id("hotline.example"));
    }
}
