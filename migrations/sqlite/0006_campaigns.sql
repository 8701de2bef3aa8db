-- Campaigns: durable bulk invitations, one row per campaign and one per person in it.
CREATE TABLE campaigns (
    id                TEXT    PRIMARY KEY,
    owner_iss         TEXT    NOT NULL,
    owner_sub         TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    dry_run           INTEGER NOT NULL,
    resend            INTEGER NOT NULL,
    source_kind       TEXT    NOT NULL,
    source_states     TEXT,
    remind_after_secs INTEGER,
    remind_max        INTEGER,
    start_at          INTEGER NOT NULL,
    resumes_at        INTEGER,
    planned           INTEGER NOT NULL,
    plan_token        TEXT,
    plan_until        INTEGER,
    google_calls      INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER
);
CREATE INDEX campaigns_owner ON campaigns (owner_iss, owner_sub, created_at);
CREATE INDEX campaigns_state ON campaigns (state);

-- One person of a campaign. `person` is the address of an admitted item and NULL for a skipped
-- one, so that a person is in a campaign once (NULLs never collide). `due_at` is when work on
-- the item is next due (NULL: final); `lease_*` is the replica working on it.
CREATE TABLE campaign_items (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id   TEXT    NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    email         TEXT    NOT NULL,
    person        TEXT,
    outcome       TEXT    NOT NULL,
    reason        TEXT,
    error_code    TEXT,
    error_detail  TEXT,
    known_state   TEXT,
    known_mails   INTEGER,
    known_update  INTEGER,
    mails         INTEGER NOT NULL DEFAULT 0,
    reminders     INTEGER NOT NULL DEFAULT 0,
    last_mail_at  INTEGER,
    due_at        INTEGER,
    lease_token   TEXT,
    lease_until   INTEGER,
    mailing       INTEGER NOT NULL DEFAULT 0,
    claims        INTEGER NOT NULL DEFAULT 0,
    updated_at    INTEGER NOT NULL,
    UNIQUE (campaign_id, person)
);
CREATE INDEX campaign_items_due ON campaign_items (campaign_id, due_at);
CREATE INDEX campaign_items_outcome ON campaign_items (campaign_id, outcome, id);
