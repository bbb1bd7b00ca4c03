-- Durable outbox of notices (reminders R-22, provincial push R-24). A notice is written once (`notice_key` is
-- unique) and stays until a receiver acknowledged it; `delivered_at_ms` NULL = still owed.
CREATE TABLE outbox (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notice_key         TEXT NOT NULL UNIQUE,
    channel            TEXT NOT NULL,
    payload            TEXT NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    delivered_at_ms    BIGINT,
    last_error         TEXT
);
CREATE INDEX outbox_due ON outbox (delivered_at_ms, next_attempt_at_ms);

-- How far the reminder producer has read the (append-only) ticket history.
CREATE TABLE outbox_cursor (
    name    TEXT PRIMARY KEY,
    last_id BIGINT NOT NULL
);
