-- The caller's answer to the satisfaction survey after the operator left (R-23): the key (NULL: none before the
-- time-out, or the caller hung up) and when the survey ended (NULL: no survey ran). Kept with the call so a
-- ticket opened for the call later still gets it as its after-call evaluation.
ALTER TABLE call_records ADD COLUMN survey_key TEXT;
ALTER TABLE call_records ADD COLUMN survey_at_ms BIGINT;
