-- The audit trail: an intent written before a mail's call, its outcome after.
CREATE TABLE audit_events (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            BIGINT  NOT NULL,
    request_id    TEXT    NOT NULL,
    caller_iss    TEXT    NOT NULL,
    caller_sub    TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    campaign_id   TEXT,
    outcome       TEXT,
    google_status BIGINT,
    completed_at  BIGINT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_email ON audit_events (email);
CREATE INDEX audit_events_caller ON audit_events (caller_iss, caller_sub, id);
CREATE INDEX audit_events_campaign ON audit_events (campaign_id, id);

-- Refused requests, folded per (reason, peer, interval) with a count: a flood adds a few rows.
CREATE TABLE audit_denials (
    reason         TEXT    NOT NULL,
    peer           TEXT    NOT NULL,
    interval_start BIGINT  NOT NULL,
    count          BIGINT  NOT NULL,
    last_at        BIGINT  NOT NULL,
    PRIMARY KEY (reason, peer, interval_start)
);
CREATE INDEX audit_denials_interval_start ON audit_denials (interval_start);
