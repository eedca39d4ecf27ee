-- Email subscribers, the delivery outbox and the outbound kill switch.

CREATE TABLE subscribers (
    id              INTEGER PRIMARY KEY,
    email           TEXT NOT NULL,
    all_components  INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    confirmed_at    TEXT,
    confirm_sent_at TEXT,
    CONSTRAINT subscribers_email_key UNIQUE (email)
);

CREATE TABLE subscriber_components (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    component_id  INTEGER NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    PRIMARY KEY (subscriber_id, component_id)
);
CREATE INDEX subscriber_components_component ON subscriber_components (component_id);

-- One row per (update, channel, recipient): the transactional outbox. recipient_id is a subscriber
-- id, or 0 for a channel's own account (X); address is copied at enqueue so the worker needs no
-- join. The unique key makes a second enqueue of the same message impossible. Confirmation mails
-- (channel 'confirm') have no update.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    update_id       INTEGER REFERENCES incident_updates (id) ON DELETE CASCADE,
    channel         TEXT NOT NULL,
    recipient_id    INTEGER NOT NULL,
    address         TEXT NOT NULL DEFAULT '',
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    last_error      TEXT,
    message_id      TEXT,
    sent_at         TEXT,
    CONSTRAINT deliveries_once UNIQUE (update_id, channel, recipient_id)
);
-- The worker's queue: only pending rows, in the order they fall due.
CREATE INDEX deliveries_pending ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_sending ON deliveries (claimed_until) WHERE state = 'sending';

-- The kill switch: one row. While paused, no channel sends anything; queued deliveries wait.
CREATE TABLE outbound (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    paused     INTEGER NOT NULL DEFAULT 0,
    reason     TEXT NOT NULL DEFAULT '',
    changed_at TEXT,
    changed_by TEXT NOT NULL DEFAULT ''
);
INSERT INTO outbound (id, paused) VALUES (1, 0);
