//! Tickets (工单): call records become work orders with working-day deadlines.
//! Knows nothing of SIP; fed by a bounded channel of [`CallRecord`]s.

pub mod record;

pub use record::{CallRecord, EndReason};
