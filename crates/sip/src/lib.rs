//! Our own SIP stack: zero-copy messages, transports, transactions, dialogs, digest auth and
//! registrar bindings. Protocol logic is sans-IO; time is always an input.
//!
//! Message layer in one glance:
//! * [`SipMessage::parse`] takes one datagram (or a frame found by [`frame`] on a stream) as
//!   `Bytes`; a refusal is a [`ParseError`] whose `status` is the answer (400, 416, 505, 513).
//!   After parsing, a UAS calls [`SipMessage::validate_request`] (CSeq/method mismatch, bad
//!   Max-Forwards/Expires/Date, empty branch → 400) and [`SipMessage::unsupported_requires`] (420).
//! * Header access is by name, case-insensitive, compact forms included (`v` = `Via`); values are
//!   slices of the wire bytes. Via/From/To/Call-ID/CSeq are typed once at parse; the other typed
//!   accessors (`contacts()`, `routes()`, `diversion()`, `replaces()`, ...) parse on demand.
//! * [`SipMessage::response`] starts a response with Via/From/To/Call-ID/CSeq copied;
//!   [`RequestBuilder`] writes new requests. Both always add Content-Length.

pub mod builder;
pub mod framing;
pub mod header;
pub mod message;
pub mod net;
pub mod uri;

pub mod auth;
pub mod capabilities;
pub mod dialog;
pub mod endpoint;
pub mod flood;
pub mod gateway;
pub mod gateway_probe;
pub mod registrar;
pub mod session;
pub mod stateless;
pub mod transaction;
pub mod transport;

pub use builder::{RequestBuilder, ResponseBuilder};
pub use framing::{frame, keepalive_len, Frame};
pub use header::{Contact, NameAddr, Param, Replaces, Via};
pub use message::{CSeq, Limits, Method, ParseError, SipMessage};
pub use uri::{Scheme, Uri};
