-- R-07: the emergency platform that handed a call over to 12345 ("110"), from the call record.
ALTER TABLE call_records ADD COLUMN handed_over_by TEXT;
