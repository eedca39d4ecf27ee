-- One key per cluster (security::keys::KeyCheck): a check value of the master key (an HMAC of a
-- fixed label under a key derived from it, never the key) and the key's public id. A process
-- whose key does not match refuses to start. No row until the first start of this version.
CREATE TABLE key_check (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_id      TEXT NOT NULL,
    check_value TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
