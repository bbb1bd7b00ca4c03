-- R-30: refused attempts are in the access log too (denied = 1), under the authenticated account; ticket_id is ''
-- when the attempt was not about one ticket (a filtered list, the reload endpoint).
ALTER TABLE access_log ADD COLUMN denied BIGINT NOT NULL DEFAULT 0;
CREATE INDEX access_log_actor ON access_log (actor, id);
