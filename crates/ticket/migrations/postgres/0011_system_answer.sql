-- When the daemon sent the caller its 200 (the carrier's answer): before the greeting by default, at a
-- person's answer in early-media mode. `answered_at_ms` stays the person's answer, what the answer rate counts.
ALTER TABLE call_records ADD COLUMN system_answered_at_ms BIGINT;
