-- Every channel on one outbox.

-- Which channels an update goes out on, as data: a comma-separated list of channel names
-- (email, x, webhook, slack, discord, teams), written with the update.
ALTER TABLE incident_updates ADD COLUMN channels TEXT NOT NULL DEFAULT '';

-- A fan-out now walks the update's channels one after another: `channel` is the one being
-- expanded (from after_id), `remaining` the ones after it.
ALTER TABLE fanouts ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
ALTER TABLE fanouts ADD COLUMN remaining TEXT NOT NULL DEFAULT '';
-- Each fan-out is stamped over its update and channels, so a fan-out row written into the
-- database (to send an old or quiet update to everyone) is never expanded. Rows waiting at the
-- upgrade are stamped once at the next start (`upgrade_adoptions`).
ALTER TABLE fanouts ADD COLUMN stamp TEXT;
CREATE TABLE upgrade_adoptions (what TEXT PRIMARY KEY);
INSERT INTO upgrade_adoptions (what) SELECT 'fanouts' WHERE EXISTS (SELECT 1 FROM fanouts);

-- Webhook subscriptions: generic (Statuspage payloads, Standard Webhooks signatures), Slack,
-- Discord and Teams incoming webhooks. The URL and the signing secret are sealed under the
-- master key: a chat webhook URL is itself a credential to post into a customer's channel.
-- `host` is kept in the clear for the admin list. A subscription is active once its test
-- delivery answered 2xx; it is disabled (with the reason, and its email told) after a long
-- run of failures, or removed by a 410.
CREATE TABLE hooks (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('webhook', 'slack', 'discord', 'teams')),
    url_sealed      TEXT NOT NULL,
    secret_sealed   TEXT,
    host            TEXT NOT NULL,
    email           TEXT,
    owner           TEXT NOT NULL DEFAULT 'subscriber' CHECK (owner IN ('subscriber', 'company')),
    all_components  INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL DEFAULT '',
    activated_at    TEXT,
    disabled_at     TEXT,
    disabled_reason TEXT,
    failures        INTEGER NOT NULL DEFAULT 0,
    failing_since   TEXT,
    last_error      TEXT,
    last_success_at TEXT
);
CREATE INDEX hooks_active ON hooks (kind, id) WHERE activated_at IS NOT NULL AND disabled_at IS NULL;

CREATE TABLE hook_components (
    hook_id      INTEGER NOT NULL REFERENCES hooks (id) ON DELETE CASCADE,
    component_id INTEGER NOT NULL REFERENCES components (id) ON DELETE CASCADE,
    PRIMARY KEY (hook_id, component_id)
);

-- A channel that asked to wait (a rate limit's reset) or whose credentials were refused:
-- every instance holds it the same way. One row per channel that has ever been held.
CREATE TABLE channel_holds (
    channel       TEXT PRIMARY KEY,
    hold_until    TEXT,
    refused_at    TEXT,
    refused_error TEXT
);
INSERT INTO channel_holds (channel, hold_until, refused_at, refused_error)
    SELECT 'x', hold_until, refused_at, refused_error FROM x_account
    WHERE hold_until IS NOT NULL OR refused_at IS NOT NULL;

-- Breach mode: a statement (an update, stamped like every update) pinned above the page and in
-- banner.js, sent on every channel despite the pause. One open at a time.
CREATE TABLE breaches (
    id         INTEGER PRIMARY KEY,
    update_id  INTEGER NOT NULL REFERENCES incident_updates (id) ON DELETE CASCADE,
    started_at TEXT NOT NULL,
    started_by TEXT NOT NULL,
    ended_at   TEXT,
    ended_by   TEXT,
    stamp      TEXT
);
CREATE UNIQUE INDEX breaches_open ON breaches ((ended_at IS NULL)) WHERE ended_at IS NULL;

-- Each channel's own queue, in the order it falls due: a claim by one channel never walks
-- another channel's backlog (an idle webhook loop during a large email fan-out).
CREATE INDEX deliveries_due ON deliveries (channel, next_attempt_at) WHERE state = 'pending';
