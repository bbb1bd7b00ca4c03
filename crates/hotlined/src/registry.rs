//! The one registry of calls: every Call-ID of every leg → the call that owns it, and each call's
//! mailbox by its key (the ACD and ACK timeouts address calls by key or Call-ID, never by a copy of
//! the mailbox).

use crate::mailbox::CallMsg;
use acd::CallKey;
use dashmap::DashMap;
use sip::transaction::ServerTxId;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

pub type Mailbox = mpsc::UnboundedSender<CallMsg>;

#[derive(Debug, Default)]
pub struct CallRegistry {
    mailboxes: DashMap<CallKey, Mailbox>,
    by_call_id: DashMap<String, CallKey>,
    /// INVITE server transactions we answered 2xx → their call, to deliver an ACK timeout.
    answered: DashMap<ServerTxId, CallKey>,
    /// Seat → the call it talks in (answered for the ACD or a transfer): a seat's consult call belongs there.
    serving: DashMap<String, CallKey>,
    next_key: AtomicU64,
}

impl CallRegistry {
    pub fn new() -> CallRegistry {
        CallRegistry {
            next_key: AtomicU64::new(1),
            ..CallRegistry::default()
        }
    }

    /// A new call owning `call_id`; returns its key and its mailbox's receiving end.
    pub fn open(&self, call_id: &str) -> (CallKey, mpsc::UnboundedReceiver<CallMsg>) {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.mailboxes.insert(key, tx);
        self.by_call_id.insert(call_id.to_string(), key);
        (key, rx)
    }

    /// One more Call-ID (a new leg) for call `key`.
    pub fn add_call_id(&self, key: CallKey, call_id: &str) {
        self.by_call_id.insert(call_id.to_string(), key);
    }

    pub fn remove_call_id(&self, call_id: &str) {
        self.by_call_id.remove(call_id);
    }

    /// The call is over: its mailbox and the Call-IDs it names go.
    pub fn close<'a>(&self, key: CallKey, call_ids: impl IntoIterator<Item = &'a str>) {
        for id in call_ids {
            self.by_call_id.remove_if(id, |_, k| *k == key);
        }
        self.serving.retain(|_, k| *k != key);
        self.mailboxes.remove(&key);
    }

    /// `seat` now talks in call `key`.
    pub fn serve(&self, seat: &str, key: CallKey) {
        self.serving.insert(seat.to_string(), key);
    }

    /// `seat` left call `key` (a later call it took is kept).
    pub fn unserve(&self, seat: &str, key: CallKey) {
        self.serving.remove_if(seat, |_, k| *k == key);
    }

    /// The call `seat` talks in, if any.
    pub fn serving(&self, seat: &str) -> Option<CallKey> {
        self.serving.get(seat).map(|k| *k)
    }

    /// Our 2xx went out on `tx`: its ACK timeout (if any) belongs to call `key`.
    pub fn answered_on(&self, tx: ServerTxId, key: CallKey) {
        self.answered.insert(tx, key);
    }

    /// The call whose 2xx on `tx` was never ACKed.
    pub fn take_answered(&self, tx: ServerTxId) -> Option<CallKey> {
        self.answered.remove(&tx).map(|(_, k)| k)
    }

    pub fn forget_answered(&self, tx: ServerTxId) {
        self.answered.remove(&tx);
    }

    /// The call that owns `call_id`, if any.
    pub fn owner_of(&self, call_id: &str) -> Option<CallKey> {
        self.by_call_id.get(call_id).map(|k| *k)
    }

    /// Deliver to call `key`; gives the message back when the call is gone.
    pub fn send(&self, key: CallKey, msg: CallMsg) -> Result<(), CallMsg> {
        match self.mailboxes.get(&key) {
            Some(mb) => mb.send(msg).map_err(|e| e.0),
            None => Err(msg),
        }
    }

    /// Calls alive now.
    pub fn active(&self) -> usize {
        self.mailboxes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_leg_reaches_its_call_until_the_call_closes() {
        let reg = CallRegistry::new();
        let (key, mut rx) = reg.open("caller@carrier");
        reg.add_call_id(key, "seat@us");
        assert_eq!(reg.owner_of("seat@us"), Some(key));
        assert!(reg.send(key, CallMsg::AckTimeout).is_ok());
        assert!(reg.send(key, CallMsg::AckTimeout).is_ok());
        assert!(matches!(rx.try_recv(), Ok(CallMsg::AckTimeout)));
        assert!(matches!(rx.try_recv(), Ok(CallMsg::AckTimeout)));
        assert_eq!(reg.owner_of("other"), None);
        assert_eq!(reg.active(), 1);
        reg.serve("1001", key);
        reg.serve("1002", key);
        reg.unserve("1002", key + 1);
        assert_eq!(
            reg.serving("1002"),
            Some(key),
            "only its own call frees a seat"
        );
        reg.unserve("1002", key);
        assert_eq!(reg.serving("1002"), None);
        reg.close(key, ["caller@carrier", "seat@us"]);
        assert_eq!(reg.serving("1001"), None, "a closed call serves nobody");
        assert!(reg.send(key, CallMsg::AckTimeout).is_err());
        assert_eq!(reg.owner_of("seat@us"), None);
        assert_eq!(reg.active(), 0);
    }
}
