-- The tripwire's memory of a resume: the burst rule counts only posts after the last one, since
-- the admin who resumed vouched for everything before it. In the database, so every instance
-- and the CLI count the same window.
CREATE TABLE tripwire_vouch (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    vouched_at TEXT,
    vouched_by TEXT NOT NULL DEFAULT ''
);
INSERT INTO tripwire_vouch (id) VALUES (1);

-- The burst rule counts notifying posts by creation time.
CREATE INDEX incident_updates_created ON incident_updates (created_at);
