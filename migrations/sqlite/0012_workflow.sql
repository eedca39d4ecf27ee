-- The incident workflow: editing, postmortems, templates, maintenance notices, component groups.

-- Postmortem: a draft (body set, published_at NULL) or published. Covered by the incident's
-- stamp (a database writer cannot put words on the page under the company's name).
ALTER TABLE incidents ADD COLUMN postmortem_body TEXT;
ALTER TABLE incidents ADD COLUMN postmortem_updated_at TEXT;
ALTER TABLE incidents ADD COLUMN postmortem_published_at TEXT;
-- Maintenance notices. `remind_prior_minutes`: minutes before scheduled_for that subscribers
-- are reminded (NULL: no reminder); `reminded_at`: when the reminder was queued (set once, by
-- whichever instance gets there first). `notify_at_start` / `notify_at_end`: the automatic
-- start and end updates go out to subscribers. `auto_start` / `auto_end`: the scheduler moves
-- the maintenance along by itself (Statuspage's scheduled_auto_in_progress / _completed).
ALTER TABLE incidents ADD COLUMN remind_prior_minutes INTEGER;
ALTER TABLE incidents ADD COLUMN reminded_at TEXT;
ALTER TABLE incidents ADD COLUMN notify_at_start INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN notify_at_end INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN auto_start INTEGER NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN auto_end INTEGER NOT NULL DEFAULT 1;
-- A maintenance called off before it ran (kept, shown as cancelled, never started).
ALTER TABLE incidents ADD COLUMN cancelled_at TEXT;
-- Maintenances scheduled before this version told subscribers at start and end exactly when
-- their first update did.
UPDATE incidents SET
    notify_at_start = COALESCE((SELECT u.deliver_notifications FROM incident_updates u
                                WHERE u.incident_id = incidents.id ORDER BY u.id LIMIT 1), 0),
    notify_at_end = COALESCE((SELECT u.deliver_notifications FROM incident_updates u
                              WHERE u.incident_id = incidents.id ORDER BY u.id LIMIT 1), 0)
    WHERE kind = 'maintenance';

-- An update edited after it was posted says so on the page.
ALTER TABLE incident_updates ADD COLUMN edited_at TEXT;
ALTER TABLE incident_updates ADD COLUMN edited_by TEXT;

-- Component groups with ids of their own (stable across renames). Members still carry the
-- group's name (components.group_name, covered by their stamps); a group's id is `g` and 11
-- hex digits of the SHA-256 of the name it was created with, so groups that existed before
-- this version keep the ids /api/v2 gave them.
CREATE TABLE component_groups (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT component_groups_name_key UNIQUE (name)
);

-- Incident templates: what the new-incident and update forms (and the APIs, as template_id)
-- start from.
CREATE TABLE incident_templates (
    id                        INTEGER PRIMARY KEY,
    name                      TEXT NOT NULL,
    title                     TEXT NOT NULL,
    body                      TEXT NOT NULL,
    update_status             TEXT NOT NULL DEFAULT 'investigating',
    should_tweet              INTEGER NOT NULL DEFAULT 0,
    should_send_notifications INTEGER NOT NULL DEFAULT 0,
    group_id                  TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    created_by                TEXT NOT NULL DEFAULT ''
);
-- The components a template names, each with the status it sets (NULL: named, unchanged).
CREATE TABLE template_components (
    template_id  INTEGER NOT NULL REFERENCES incident_templates (id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    status       TEXT,
    PRIMARY KEY (template_id, component_id)
);
