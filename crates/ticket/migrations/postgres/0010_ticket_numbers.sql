-- A short number a caller can key on the phone (R-28), and the query code printed with it: the progress
-- self-query answers only the number that filed the ticket, or whoever has the code (R-30).
CREATE TABLE ticket_numbers (
    number     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id  TEXT NOT NULL UNIQUE REFERENCES tickets (id),
    query_code TEXT NOT NULL
);
