-- Tracking: the latest state of every person, each change with its time, the tracker's walk
-- (lease and progress), the event outbox and the webhook deliveries.

-- The latest state of every person the tracker listed or the gateway sent to or cancelled.
-- `listed`: the last finished walk listed the person (summary counts only those);
-- `missing_since`: a finished walk did not list them (absence never emits an event).
CREATE TABLE tracked_people (
    customer         TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    mails_sent_count INTEGER NOT NULL,
    update_time      INTEGER,
    first_seen_at    INTEGER NOT NULL,
    changed_at       INTEGER NOT NULL,
    last_walk        TEXT,
    listed           BOOLEAN NOT NULL,
    missing_since    INTEGER,
    PRIMARY KEY (customer, email)
);

-- Every change of a person, with when the gateway learned it.
CREATE TABLE tracked_changes (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    customer         TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    change           TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    mails_sent_count INTEGER NOT NULL,
    at               INTEGER NOT NULL
);
CREATE INDEX tracked_changes_person ON tracked_changes (customer, email, id);
CREATE INDEX tracked_changes_at ON tracked_changes (customer, at);

-- One walk of Google's list per customer at a time: its lease, its progress, the last finished.
CREATE TABLE tracker_walks (
    customer        TEXT    PRIMARY KEY,
    holder          TEXT,
    lease_until     INTEGER NOT NULL,
    walk_id         TEXT,
    started_at      INTEGER,
    page_token      TEXT,
    token_at        INTEGER,
    pages           INTEGER NOT NULL,
    people          INTEGER NOT NULL,
    finished_at     INTEGER,
    finished_walk   TEXT
);

-- The event outbox: CloudEvents in the order their changes committed (`position`).
CREATE TABLE event_outbox (
    position   INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    type       TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    body       TEXT    NOT NULL
);
CREATE INDEX event_outbox_at ON event_outbox (at);

-- How far each webhook endpoint's deliveries are scheduled.
CREATE TABLE webhook_endpoints (
    endpoint   TEXT    PRIMARY KEY,
    scheduled  INTEGER NOT NULL
);

-- One delivery of one event to one endpoint: attempts, next try, lease, outcome.
CREATE TABLE webhook_deliveries (
    endpoint        TEXT    NOT NULL,
    position        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    holder          TEXT,
    lease_until     INTEGER NOT NULL,
    last_status     TEXT,
    delivered_at    INTEGER,
    given_up_at     INTEGER,
    PRIMARY KEY (endpoint, position)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint, next_attempt_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
