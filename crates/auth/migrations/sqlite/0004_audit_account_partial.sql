-- Only rows that name an account are searched by account: the index leaves
-- out the rest (an unknown caller's whole call), which every audit write
-- would otherwise pay for. A search `account_id = ?` implies NOT NULL, so
-- it still uses the index.
DROP INDEX audit_events_account_id;
CREATE INDEX audit_events_account_id ON audit_events (account_id) WHERE account_id IS NOT NULL;
