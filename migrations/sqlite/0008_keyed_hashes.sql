-- Keyed hashes (security::secret::DigestKey): every stored hash of a bearer secret (API token,
-- session id, enrolment link, recovery code) becomes a MAC under a random key kept here sealed
-- under the master key, so a row written straight into the database matches no secret. Rows
-- that grant access carry a stamp under the same key over what they grant. Existing unkeyed
-- hashes are re-keyed once, at the first start after this migration.
CREATE TABLE digest_key (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    key_sealed TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Who made a token (NULL: the command line): a token never has more than its maker's
-- current role, and stops when its maker is disabled.
ALTER TABLE api_tokens ADD COLUMN created_by_staff INTEGER REFERENCES staff (id);
UPDATE api_tokens SET created_by_staff =
    (SELECT s.id FROM staff s WHERE 'staff:' || s.email = api_tokens.created_by);
ALTER TABLE api_tokens ADD COLUMN stamp TEXT;
ALTER TABLE sessions ADD COLUMN stamp TEXT;
ALTER TABLE sessions ADD COLUMN reauth_stamp TEXT;
ALTER TABLE enrolments ADD COLUMN stamp TEXT;

-- Subscriber addresses shown in the admin or exported, per actor: the export rule counts
-- them together within a window, so paging through every address trips like one big export.
CREATE TABLE address_reads (
    id        INTEGER PRIMARY KEY,
    actor     TEXT NOT NULL,
    at        TEXT NOT NULL,
    addresses INTEGER NOT NULL
);
CREATE INDEX address_reads_actor ON address_reads (actor, at);
