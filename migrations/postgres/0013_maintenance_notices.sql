-- Maintenance reminders ride the outbox like every other message: a reminder is a fan-out of
-- the maintenance's first update on the `reminder` channel (email), beside that update's own
-- fan-out. So a fan-out is now keyed by its update AND the channel it is expanding; an update's
-- ordinary fan-out never names `reminder`, so the two cannot collide.
ALTER TABLE fanouts DROP CONSTRAINT fanouts_pkey;
ALTER TABLE fanouts ADD PRIMARY KEY (update_id, channel);

-- Minutes as Herald reads them (a 64-bit integer, like every other count it stores).
ALTER TABLE incidents ALTER COLUMN remind_prior_minutes TYPE BIGINT;
