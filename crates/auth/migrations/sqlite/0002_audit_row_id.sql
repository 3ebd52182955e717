-- Each audit row a node writes carries an id unique across nodes and runs,
-- so that a batch replayed from a node's spool after a crash or an outage
-- is stored once however many times it is sent.
ALTER TABLE audit_events ADD COLUMN row_id TEXT;
CREATE UNIQUE INDEX audit_events_row_id ON audit_events (row_id);
