-- Uptime history: every status a component takes, appended in the transaction that changes
-- `components.status` (and one at its creation), so the page can show 90 days of bars. Each
-- row is stamped like what customers see; one whose stamp fails is left out and trips the
-- wire. `update_id` ties a row to the update that set it: editing that update's display time
-- moves the row; deleting the update leaves the fact and forgets the link.
CREATE TABLE component_status_log (
    id           INTEGER PRIMARY KEY,
    component_id INTEGER NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    at           TEXT NOT NULL,
    update_id    INTEGER REFERENCES incident_updates (id) ON DELETE SET NULL,
    stamp        TEXT
);
CREATE INDEX component_status_log_component ON component_status_log (component_id, at);
CREATE INDEX component_status_log_update ON component_status_log (update_id);

-- Whether the public page and /api/uptime.json show the component's uptime.
ALTER TABLE components ADD COLUMN show_uptime INTEGER NOT NULL DEFAULT 1;

-- The history so far, from what the database already knows: operational from creation, each
-- recorded change at its update's display time, then the status as it is now where that
-- differs (a status set directly, or restored when an incident was deleted).
INSERT INTO component_status_log (component_id, status, at)
    SELECT id, 'operational', created_at FROM components ORDER BY id;
INSERT INTO component_status_log (component_id, status, at, update_id)
    SELECT uc.component_id, uc.new_status, u.display_at, uc.update_id
    FROM update_components uc JOIN incident_updates u ON u.id = uc.update_id
    ORDER BY u.display_at, u.id, uc.component_id;
INSERT INTO component_status_log (component_id, status, at)
    SELECT c.id, c.status, MAX(c.updated_at,
        (SELECT l.at FROM component_status_log l WHERE l.component_id = c.id ORDER BY l.at DESC, l.id DESC LIMIT 1))
    FROM components c
    WHERE c.status <> (SELECT l.status FROM component_status_log l WHERE l.component_id = c.id
                       ORDER BY l.at DESC, l.id DESC LIMIT 1)
    ORDER BY c.id;
-- Stamped once at the next start (`Store::adopt_status_log`).
INSERT INTO upgrade_adoptions (what) SELECT 'status_log' WHERE EXISTS (SELECT 1 FROM component_status_log);
