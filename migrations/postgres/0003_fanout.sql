-- An update's email fan-out waiting to be written into deliveries. The update's transaction
-- inserts one row here instead of one delivery per subscriber, so posting costs the same at ten
-- subscribers or a million; the worker then expands it in chunks of subscriber ids, each chunk
-- in one transaction with the cursor (after_id), so a crash repeats at most one chunk and the
-- unique key on deliveries makes the repeat harmless. Subscribers confirmed after the update was
-- posted (confirmed_at > created_at) are not its audience. The row is deleted when done.
CREATE TABLE fanouts (
    update_id   BIGINT PRIMARY KEY REFERENCES incident_updates (id) ON DELETE CASCADE,
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    after_id    BIGINT NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL
);
