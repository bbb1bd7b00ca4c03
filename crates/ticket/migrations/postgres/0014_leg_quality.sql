-- Each leg's media quality from RTCP (CallRecord.quality, RFC 3550; docs/quality.md): what we measured of the
-- peer's stream, what the peer reported of ours, the round trip and the estimated MOS x 100. Written with the
-- call record, only when it is new. `leg` 0 is the caller.
CREATE TABLE leg_quality (
    call_id                    TEXT NOT NULL REFERENCES call_records (call_id),
    leg                        BIGINT NOT NULL,
    packets_received           BIGINT NOT NULL,
    lost                       BIGINT NOT NULL,
    jitter_us                  BIGINT NOT NULL,
    peer_reported_lost         BIGINT,
    peer_reported_fraction_256 BIGINT,
    peer_jitter_us             BIGINT,
    rtt_ms                     BIGINT,
    mos_x100                   BIGINT,
    PRIMARY KEY (call_id, leg)
);
