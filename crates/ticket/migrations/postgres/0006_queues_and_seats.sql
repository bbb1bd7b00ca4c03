-- Every queue a call waited in (CallRecord.queue_visits), `seq` = its index: the service level of each queue is
-- counted from these rows (R-13), so a restart changes no figure. Written with the call record, only when it is
-- new.
CREATE TABLE queue_visits (
    call_id       TEXT NOT NULL REFERENCES call_records (call_id),
    seq           BIGINT NOT NULL,
    queue         TEXT NOT NULL,
    entered_at_ms BIGINT NOT NULL,
    left_at_ms    BIGINT NOT NULL,
    -- answered, abandoned, overflowed, callback, ended
    outcome       TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
CREATE INDEX queue_visits_entered ON queue_visits (entered_at_ms);

-- Who is logged in at each seat and whether they take calls: what a restart restores.
CREATE TABLE seat_presence (
    seat          TEXT PRIMARY KEY,
    operator      TEXT,
    -- logged_out, ready, not_ready
    presence      TEXT NOT NULL,
    -- not_ready: RONA or the reason digit
    reason        TEXT,
    -- logged out by the operator (1): a new registration does not log in again
    held_out      BIGINT NOT NULL,
    changed_at_ms BIGINT NOT NULL
);

-- Every presence change, append-only: how many operators were logged in when (staffing advice).
CREATE TABLE agent_events (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms    BIGINT NOT NULL,
    seat     TEXT NOT NULL,
    operator TEXT,
    presence TEXT NOT NULL,
    reason   TEXT,
    -- the queues the seat served, comma-separated
    queues   TEXT NOT NULL
);
CREATE INDEX agent_events_at ON agent_events (at_ms);
CREATE TRIGGER agent_events_append_only BEFORE UPDATE ON agent_events
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
