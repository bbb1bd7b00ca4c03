-- The call-back list (回访, R-23): closed tickets, abandoned callers, "leave your number" callers. `source_key`
-- makes adding idempotent (one call-back per closing of a ticket, per abandoned call).
CREATE TABLE callbacks (
    id                 TEXT PRIMARY KEY,
    source_key         TEXT NOT NULL UNIQUE,
    kind               TEXT NOT NULL,
    ticket_id          TEXT,
    call_id            TEXT,
    caller             TEXT NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    due_at_ms          BIGINT NOT NULL,
    next_attempt_at_ms BIGINT NOT NULL,
    attempts           BIGINT NOT NULL DEFAULT 0,
    state              TEXT NOT NULL,
    outcome            TEXT,
    updated_at_ms      BIGINT NOT NULL
);
CREATE INDEX callbacks_state ON callbacks (state, next_attempt_at_ms);
CREATE INDEX callbacks_created ON callbacks (created_at_ms);

CREATE TABLE callback_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    callback_id TEXT NOT NULL REFERENCES callbacks (id),
    at_ms       BIGINT NOT NULL,
    outcome     TEXT NOT NULL,
    evaluation  TEXT
);
CREATE INDEX callback_attempts_callback ON callback_attempts (callback_id, id);
