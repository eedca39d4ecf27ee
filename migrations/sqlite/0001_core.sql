-- Herald core: components, incidents (and maintenances), their updates, staff and sessions.
-- Times are RFC 3339 text in UTC with milliseconds; booleans are 0/1.

CREATE TABLE components (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    group_name  TEXT,
    position    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'operational',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('incident', 'maintenance')),
    name            TEXT NOT NULL,
    status          TEXT NOT NULL,
    impact          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    monitoring_at   TEXT,
    resolved_at     TEXT,
    scheduled_for   TEXT,
    scheduled_until TEXT
);
CREATE INDEX incidents_open ON incidents (status, kind);
CREATE INDEX incidents_started ON incidents (started_at);

CREATE TABLE incident_components (
    incident_id  INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    PRIMARY KEY (incident_id, component_id)
);

CREATE TABLE incident_updates (
    id                    INTEGER PRIMARY KEY,
    incident_id           INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    status                TEXT NOT NULL,
    body                  TEXT NOT NULL,
    display_at            TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    deliver_notifications INTEGER NOT NULL DEFAULT 0,
    custom_tweet          TEXT,
    tweet_id              TEXT,
    author                TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_updates_incident ON incident_updates (incident_id, display_at);

CREATE TABLE update_components (
    update_id    INTEGER NOT NULL REFERENCES incident_updates (id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    old_status   TEXT NOT NULL,
    new_status   TEXT NOT NULL,
    PRIMARY KEY (update_id, component_id)
);

CREATE TABLE staff (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    password_hash TEXT,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT,
    CONSTRAINT staff_email_key UNIQUE (email)
);

CREATE TABLE enrolments (
    token_hash TEXT PRIMARY KEY,
    staff_id   INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    staff_id     INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_staff ON sessions (staff_id);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    token_hash   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    last_used_ip TEXT,
    revoked_at   TEXT,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);
