//! Our own SIP stack: zero-copy messages, transports, transactions, dialogs, digest auth and
//! registrar bindings. Protocol logic is sans-IO; time is always an input.

pub mod builder;
pub mod framing;
pub mod header;
pub mod message;
pub mod uri;

pub mod auth;
pub mod dialog;
pub mod endpoint;
pub mod registrar;
pub mod transaction;
pub mod transport;

pub use builder::{RequestBuilder, ResponseBuilder};
pub use framing::{frame, Frame};
pub use header::{Contact, NameAddr, Param, Replaces, Via};
pub use message::{CSeq, Limits, Method, ParseError, SipMessage};
pub use uri::{Scheme, Uri};
