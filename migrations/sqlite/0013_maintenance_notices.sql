-- Maintenance reminders ride the outbox like every other message: a reminder is a fan-out of
-- the maintenance's first update on the `reminder` channel (email), beside that update's own
-- fan-out. So a fan-out is now keyed by its update AND the channel it is expanding; an update's
-- ordinary fan-out never names `reminder`, so the two cannot collide.
CREATE TABLE fanouts_keyed (
    update_id   INTEGER NOT NULL REFERENCES incident_updates (id) ON DELETE CASCADE,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    after_id    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    channel     TEXT NOT NULL DEFAULT 'email',
    remaining   TEXT NOT NULL DEFAULT '',
    stamp       TEXT,
    PRIMARY KEY (update_id, channel)
);
INSERT INTO fanouts_keyed (update_id, incident_id, after_id, created_at, channel, remaining, stamp)
    SELECT update_id, incident_id, after_id, created_at, channel, remaining, stamp FROM fanouts;
DROP TABLE fanouts;
ALTER TABLE fanouts_keyed RENAME TO fanouts;

-- (PostgreSQL's remind_prior_minutes becomes BIGINT here; SQLite's INTEGER already is 64-bit.)
