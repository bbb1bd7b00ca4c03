//! Metric names in one place, so dashboards and code agree.
pub const CALLS_STARTED: &str = "hotline_calls_started_total";
pub const CALLS_ENDED: &str = "hotline_calls_ended_total";
pub const CALLS_REFUSED: &str = "hotline_calls_refused_total";
pub const CALLS_ACTIVE: &str = "hotline_calls_active";
pub const REGISTRATIONS: &str = "hotline_register_total";
pub const SIP_RECEIVED: &str = "hotline_sip_received_total";
pub const SIP_PARSE_ERRORS: &str = "hotline_sip_parse_errors_total";
/// Of those, dropped unanswered (no usable top Via, a response, an ACK, garbage).
pub const SIP_PARSE_ERRORS_DROPPED: &str = "hotline_sip_parse_errors_dropped_total";
/// Messages dropped unparsed by the per-source flood limit (`[sip.flood]`), and the bans it started.
pub const SIP_FLOOD_DROPPED: &str = "hotline_sip_flood_dropped_total";
pub const SIP_FLOOD_BANS: &str = "hotline_sip_flood_bans_total";
pub const SIP_RETRANSMISSIONS: &str = "hotline_sip_retransmissions_total";
pub const SIP_DROPPED_INCOMING: &str = "hotline_sip_dropped_incoming_total";
/// Live transactions (finished ones linger 32 s per RFC 3261/6026): back to 0 after load means nothing stuck.
pub const SIP_TRANSACTIONS: &str = "hotline_sip_transactions";
pub const RECORDS_SPILLED: &str = "hotline_records_spilled_total";
/// Must stay 0: a record neither journaled nor stored. Alert on it.
pub const RECORDS_LOST: &str = "hotline_records_lost_total";
pub const RECORDS_SPOOL_ERRORS: &str = "hotline_records_spool_errors_total";
pub const RTP_PACKETS_IN: &str = "hotline_rtp_packets_in_total";
pub const RTP_PACKETS_OUT: &str = "hotline_rtp_packets_out_total";
pub const MEDIA_LEGS: &str = "hotline_media_legs";
/// Live three-way mixes (one-key transfers answered, the operator still on the line).
pub const MEDIA_CONFERENCES: &str = "hotline_media_conferences";
pub const QUEUE_WAITING: &str = "hotline_queue_waiting";
pub const DIALPLAN_RELOADS: &str = "hotline_dialplan_reloads_total";
/// One-key transfer attempts, by department and outcome (answered, no_answer, busy, rejected, failed, cancelled).
pub const TRANSFERS: &str = "hotline_transfers_total";
/// How long transfer targets rang (until answer or give-up), by department.
pub const TRANSFER_RING_SECONDS: &str = "hotline_transfer_ring_seconds";
