-- How the operator asked for each transfer: keys (`*2 N #`), blind (REFER) or attended (consult call, then
-- REFER with Replaces). NULL for attempts stored before kinds were recorded.
ALTER TABLE transfer_attempts ADD COLUMN kind TEXT;
