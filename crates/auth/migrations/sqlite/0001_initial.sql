-- Passgate account store. Kept identical to ../postgres/0001_initial.sql
-- except for the auto-increment key type (a test compares the two).
-- Times are Unix milliseconds in BIGINT so both engines compare the same
-- integers; binary values are hex TEXT because BLOB and BYTEA differ.

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    passphrase_phc TEXT NOT NULL,
    passphrase_words BIGINT NOT NULL,
    balance_cents BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- position 0 is the number on file that one-time codes go to.
CREATE TABLE account_phones (
    number TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    position BIGINT NOT NULL
);
CREATE INDEX account_phones_account ON account_phones (account_id);

CREATE TABLE one_time_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    call_id TEXT NOT NULL,
    salt_hex TEXT NOT NULL,
    digest_hex TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    tries_left BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX one_time_codes_account ON one_time_codes (account_id, issued_at);

-- Either column may be empty: a failure before the account is known
-- counts against the calling number only.
CREATE TABLE auth_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT,
    caller TEXT,
    factor TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX auth_failures_account ON auth_failures (account_id, at);
CREATE INDEX auth_failures_caller ON auth_failures (caller, at);

CREATE TABLE sms_sends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    to_number TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sms_sends_account ON sms_sends (account_id, at);

-- No foreign key on account_id: the trail outlives removed accounts.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    event TEXT NOT NULL,
    outcome TEXT,
    account_id TEXT,
    detail TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
