-- Every one-key transfer attempt of a call (R-05), `seq` = its index in `CallRecord.transfers` (0, 1, …).
-- Written in the same transaction as its call record, only when that record is new (idempotent on call_id).
CREATE TABLE transfer_attempts (
    call_id          TEXT NOT NULL REFERENCES call_records (call_id),
    seq              BIGINT NOT NULL,
    target           TEXT NOT NULL,
    department       TEXT,
    started_at_ms    BIGINT NOT NULL,
    answered_at_ms   BIGINT,
    ended_at_ms      BIGINT NOT NULL,
    -- answered, no_answer, busy, rejected, failed, cancelled; `status` is the SIP status of rejected/failed.
    outcome          TEXT NOT NULL,
    status           BIGINT,
    answer_target_ms BIGINT,
    -- caller, operator, department, timer
    ended_by         TEXT,
    PRIMARY KEY (call_id, seq)
);
-- The service-level query selects by start time.
CREATE INDEX transfer_attempts_started ON transfer_attempts (started_at_ms);
