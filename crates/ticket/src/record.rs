//! The call record lives in the `record` crate (shared with `call`, which must not depend on this crate's
//! database and HTTP stack); re-exported here so `ticket::record::CallRecord` paths keep working.

pub use ::record::{
    CallRecord, EndReason, LegQuality, QueueVisit, Survey, TransferAttempt, TransferEndedBy,
    TransferKind, TransferOutcome, VisitOutcome,
};
