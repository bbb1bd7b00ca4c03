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
/// Callers waiting, per queue (gauge, `queue`).
pub const QUEUE_WAITING_BY_QUEUE: &str = "hotline_queue_waiting_calls";
/// The longest wait of a caller still waiting, per queue.
pub const QUEUE_LONGEST_WAIT_SECONDS: &str = "hotline_queue_longest_wait_seconds";
/// Seats serving a queue by state (`queue`, `state`: logged_in, ready, ringing, talking, wrap_up, resting,
/// not_ready, unregistered).
pub const QUEUE_SEATS: &str = "hotline_queue_seats";
/// The last 24 hours per queue, from the call records (gauges: they roll): `queue`, and `queue="*"` for the
/// center counting each call once. Rules in docs/acd.md.
pub const QUEUE_OFFERED: &str = "hotline_queue_offered_24h";
pub const QUEUE_ANSWERED: &str = "hotline_queue_answered_24h";
pub const QUEUE_ANSWERED_IN_THRESHOLD: &str = "hotline_queue_answered_in_threshold_24h";
pub const QUEUE_ABANDONED: &str = "hotline_queue_abandoned_24h";
pub const QUEUE_SHORT_ABANDONED: &str = "hotline_queue_short_abandoned_24h";
pub const QUEUE_OVERFLOWED: &str = "hotline_queue_overflowed_24h";
pub const QUEUE_CALLBACKS: &str = "hotline_queue_callbacks_24h";
pub const QUEUE_SERVICE_LEVEL: &str = "hotline_queue_service_level_24h";
/// R-13 asks for at least 0.95 at the center (`queue="*"`). Alert below it.
pub const QUEUE_ANSWER_RATE: &str = "hotline_queue_answer_rate_24h";
pub const QUEUE_ASA_SECONDS: &str = "hotline_queue_asa_seconds_24h";
pub const QUEUE_AHT_SECONDS: &str = "hotline_queue_aht_seconds_24h";
/// Operators' requests (feature codes and the API) by action and outcome (ok, refused).
pub const OPERATOR_ACTIONS: &str = "hotline_operator_actions_total";
/// Trunk gateways (`[[trunks.gateway]]`): 1 for the state each is in (`gateway`, `state`: up, probing,
/// down), the channels in use, and its OPTIONS probes sent and failed since start (gauges set from the
/// pool's counters). Alert on `state="down"`.
pub const GATEWAY_STATE: &str = "hotline_gateway_state";
pub const GATEWAY_CHANNELS: &str = "hotline_gateway_channels_in_use";
pub const GATEWAY_PROBES_SENT: &str = "hotline_gateway_probes_sent";
pub const GATEWAY_PROBES_FAILED: &str = "hotline_gateway_probes_failed";
