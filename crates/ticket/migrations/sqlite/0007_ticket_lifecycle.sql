-- Issue 11: what returns under review, extensions, re-handling and not-accepted closings leave on a ticket
-- (R-26, R-29). Numbered after 0006 (queues and seats, another branch).
ALTER TABLE tickets ADD COLUMN returned_from TEXT;
ALTER TABLE tickets ADD COLUMN extension_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN extension_pending BIGINT;
ALTER TABLE tickets ADD COLUMN reopened BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN reopened_at_ms BIGINT;
ALTER TABLE tickets ADD COLUMN not_accepted_reason TEXT;

-- Every request a ticket stands for (R-27): the first, and the repeats merged into it (merged = 1). `matter` is
-- the normalised key (category, department, address/keywords) repeats are recognised by.
CREATE TABLE ticket_requests (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    caller    TEXT NOT NULL,
    matter    TEXT NOT NULL,
    at_ms     BIGINT NOT NULL,
    call_id   TEXT,
    text      TEXT NOT NULL,
    merged    BIGINT NOT NULL
);
CREATE INDEX ticket_requests_matter ON ticket_requests (caller, matter, at_ms);
CREATE INDEX ticket_requests_ticket ON ticket_requests (ticket_id, id);

-- Tickets put on the supervision list because the same caller asked about the same matter too often.
CREATE TABLE repeat_flags (
    ticket_id     TEXT PRIMARY KEY REFERENCES tickets (id),
    flagged_at_ms BIGINT NOT NULL,
    requests      BIGINT NOT NULL
);

-- Survey answers (评价, R-23): after the operator's call or on a call-back; `not_evaluated` when no key came.
CREATE TABLE evaluations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    call_id    TEXT,
    source     TEXT NOT NULL,
    evaluation TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX evaluations_ticket ON evaluations (ticket_id, id);
CREATE INDEX evaluations_at ON evaluations (at_ms);
