-- The maintenance calendar (/maintenances.ics) gives each maintenance a SEQUENCE that rises
-- when its window moves and when it is cancelled, so subscribed calendars take the change.
ALTER TABLE incidents ADD COLUMN schedule_sequence INTEGER NOT NULL DEFAULT 0;
