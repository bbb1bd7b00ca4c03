//! What a call task may use: one handle per concern, built once by `daemon::run`. Nothing here imports
//! the daemon, the dispatcher or the admin API.

use crate::admission::Admission;
use crate::clock::Clock;
use crate::config::Config;
use crate::mailbox::AcdHandle;
use crate::plans::Plans;
use crate::registry::CallRegistry;
use crate::seats::Seats;
use crate::stats::CallStats;
use media::MediaEngine;
use sip::endpoint::Endpoint;
use std::sync::Arc;

pub struct CallEnv {
    pub cfg: Arc<Config>,
    pub endpoint: Endpoint,
    pub media: MediaEngine,
    pub seats: Arc<Seats>,
    pub plans: Arc<Plans>,
    pub acd: AcdHandle,
    pub records: ticket::RecordSink,
    pub calls: Arc<CallRegistry>,
    pub clock: Clock,
    pub stats: Arc<CallStats>,
    pub admission: Admission,
    /// host:port we put in Contact headers.
    pub contact_host: String,
    /// The operators' feature codes (`[acd.codes]`).
    pub features: acd::FeatureCodes,
    /// The ticket side of the phone self-query (`selfquery.rs`).
    pub desk: ticket::SelfQueryDesk,
    /// Where calls out go: the gateway pool and the fixed map (`trunks.rs`).
    pub trunks: Arc<crate::trunks::Trunks>,
}

impl CallEnv {
    /// Our Contact header value.
    pub fn contact(&self) -> String {
        format!("<sip:12345@{}>", self.contact_host)
    }

    /// Once a seat answered `call`: journal its interim record in the live-call journal, so a daemon killed
    /// mid-call still leaves its record (`ticket`'s `live` module).
    pub fn journal_answered(&self, call: &mut call::Call) {
        if let Some(interim) = call.poll_journal(self.clock.now_ms()) {
            self.records.call_answered(&interim);
        }
    }
}
