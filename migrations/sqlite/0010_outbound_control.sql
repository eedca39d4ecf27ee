-- Outbound control that holds when someone writes to the database without the key file.

-- The kill switch carries a stamp (an HMAC under a key derived from the master key) over its
-- state and a serial that grows with every change; a state whose stamp fails counts as paused.
ALTER TABLE outbound ADD COLUMN serial INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbound ADD COLUMN stamp TEXT;

-- Each delivery is stamped when it is queued, binding it to its update, channel, recipient and
-- address; the stamp is spent when the delivery is sent, so a sent row put back to pending, or
-- one whose address was edited, is never sent. claimed_by names the instance holding a claim.
ALTER TABLE deliveries ADD COLUMN stamp TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;

-- What customers see is stamped too: a row edited outside Herald is never shown in public.
ALTER TABLE incidents ADD COLUMN stamp TEXT;
ALTER TABLE components ADD COLUMN stamp TEXT;

-- Running instances and their heartbeats: the claims of an instance whose heartbeat stopped go
-- back to the queue in seconds, not at the end of their lease.
CREATE TABLE instances (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL DEFAULT '',
    pid          INTEGER NOT NULL DEFAULT 0,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
CREATE INDEX deliveries_claimed_by ON deliveries (claimed_by) WHERE state = 'sending';
