-- The connected X account: one row, or none when not connected. Its access token is sealed
-- (security::seal) under a key that is not in the database. hold_until is set from a 429's
-- x-rate-limit-reset: no instance posts before it. refused_at is set on a 401: posts wait until
-- an admin reconnects.
CREATE TABLE x_account (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    user_id       TEXT NOT NULL,
    username      TEXT NOT NULL,
    token_sealed  TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    connected_at  TEXT NOT NULL,
    connected_by  TEXT NOT NULL,
    hold_until    TEXT,
    refused_at    TEXT,
    refused_error TEXT
);

-- Request tokens between leg one and the callback of the OAuth connect flow (15 minutes).
CREATE TABLE x_connect_requests (
    token         TEXT PRIMARY KEY,
    secret_sealed TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

-- X posts go out one at a time in update order, so each reply finds the post it answers.
CREATE INDEX deliveries_x_queue ON deliveries (id) WHERE channel = 'x' AND state IN ('pending', 'sending');

-- Messages to the admins about Herald itself (an X account that must be reconnected, a tripped
-- wire). Sent as 'alert' deliveries, which the kill switch does not hold back.
CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
ALTER TABLE deliveries ADD COLUMN alert_id INTEGER REFERENCES alerts (id) ON DELETE CASCADE;
