-- The console searches the audit trail by account and gathers each call's
-- rows by its Call-ID.
CREATE INDEX audit_events_account_id ON audit_events (account_id);
CREATE INDEX audit_events_call_id ON audit_events (call_id);
