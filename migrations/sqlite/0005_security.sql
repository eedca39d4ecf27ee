-- Staff security: TOTP second factor, recovery codes, re-authentication, login throttles,
-- the hash-chained audit log and the tripwire's memory of known sources.

-- The TOTP seed is sealed (security::seal) under a key outside the database; totp_last_step is
-- the 30-second step of the last code accepted, so no code is accepted twice.
ALTER TABLE staff ADD COLUMN totp_sealed TEXT;
ALTER TABLE staff ADD COLUMN totp_enabled_at TEXT;
ALTER TABLE staff ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
-- The role before the last change, and when it changed: a demoted account trying what it no
-- longer may trips the wire.
ALTER TABLE staff ADD COLUMN previous_role TEXT;
ALTER TABLE staff ADD COLUMN role_changed_at TEXT;

-- A session is only half open (mfa_at NULL) until the second factor is given; reauth_at is the
-- last time its owner gave a code again, for sensitive actions.
ALTER TABLE sessions ADD COLUMN mfa_at TEXT;
ALTER TABLE sessions ADD COLUMN reauth_at TEXT;

CREATE TABLE recovery_codes (
    staff_id  INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   TEXT,
    PRIMARY KEY (staff_id, code_hash)
);

-- Failed sign-ins per key ('account:<email>' or 'ip:<address>'), in the database so that every
-- instance counts the same attempts.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure TEXT NOT NULL,
    locked_until TEXT
);

ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT '';

-- Every staff action, each entry keyed-hashed over the previous one's hash (security::audit).
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    ip         TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- The chain's head, one row: appending updates it first, which serialises appenders.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    entries   INTEGER NOT NULL,
    last_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, entries, last_hash) VALUES (1, 0, '');

-- Addresses each actor ('staff:<id>', 'token:<id>') has been seen acting from.
CREATE TABLE known_sources (
    actor      TEXT NOT NULL,
    ip         TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (actor, ip)
);

-- Outbound stamps (security::stamp): an HMAC under a key outside the database over what an
-- update or alert says. Workers send only rows whose stamp verifies.
ALTER TABLE incident_updates ADD COLUMN stamp TEXT;
ALTER TABLE alerts ADD COLUMN stamp TEXT;

-- Why outbound is paused when a rule tripped (empty for a manual pause).
ALTER TABLE outbound ADD COLUMN tripped_rule TEXT NOT NULL DEFAULT '';
