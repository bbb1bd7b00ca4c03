-- Times are epoch milliseconds (BIGINT), ids are TEXT: the sqlx Any driver maps nothing richer on both backends.
CREATE TABLE call_records (
    call_id             TEXT PRIMARY KEY,
    caller              TEXT NOT NULL,
    called              TEXT NOT NULL,
    original_called     TEXT,
    route_mode          TEXT,
    department          TEXT,
    started_at_ms       BIGINT NOT NULL,
    answered_at_ms      BIGINT,
    ended_at_ms         BIGINT NOT NULL,
    wait_ms             BIGINT NOT NULL,
    seat                TEXT,
    end_reason          TEXT NOT NULL,
    digits              TEXT NOT NULL,
    off_hours           BIGINT NOT NULL,
    transfer_unanswered TEXT,
    stored_at_ms        BIGINT NOT NULL
);
CREATE INDEX call_records_started ON call_records (started_at_ms);

CREATE TABLE tickets (
    id               TEXT PRIMARY KEY,
    category         TEXT NOT NULL,
    department       TEXT NOT NULL,
    status           TEXT NOT NULL,
    source           TEXT NOT NULL,
    caller           TEXT,
    text             TEXT NOT NULL,
    accepted_at_ms   BIGINT NOT NULL,
    dispatched_at_ms BIGINT,
    signed_at_ms     BIGINT,
    closed_at_ms     BIGINT,
    supervised       BIGINT NOT NULL DEFAULT 0,
    satisfaction     TEXT,
    created_at_ms    BIGINT NOT NULL,
    updated_at_ms    BIGINT NOT NULL,
    version          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX tickets_status ON tickets (status);
CREATE INDEX tickets_department ON tickets (department);
CREATE INDEX tickets_accepted ON tickets (accepted_at_ms);

-- The call(s) a ticket came from. No foreign key to call_records: a ticket typed in by an operator can name a
-- call whose record is still on its way through the channel.
CREATE TABLE ticket_calls (
    ticket_id TEXT NOT NULL REFERENCES tickets (id),
    call_id   TEXT NOT NULL,
    PRIMARY KEY (ticket_id, call_id)
);
CREATE INDEX ticket_calls_call ON ticket_calls (call_id);

CREATE TABLE ticket_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    at_ms       BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT NOT NULL
);
CREATE INDEX ticket_history_ticket ON ticket_history (ticket_id, id);

-- Every read of personal data through the API (R-30).
CREATE TABLE access_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    ticket_id TEXT NOT NULL,
    what      TEXT NOT NULL
);
CREATE INDEX access_log_ticket ON access_log (ticket_id, id);

-- Append-only: who did what when, and who read what, must not be rewritten.
CREATE FUNCTION refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER ticket_history_append_only BEFORE UPDATE OR DELETE ON ticket_history
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION refuse_rewrite();
