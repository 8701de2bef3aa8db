-- The cluster-wide bucket of Google calls: one row. tokens is in 1/60000 of a call (so a refill of
-- per_minute calls a minute is per_minute units a millisecond, exact); NULL means full.
CREATE TABLE google_budget (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    tokens        BIGINT,
    refilled_at   BIGINT  NOT NULL,
    backoff_until BIGINT  NOT NULL
);
INSERT INTO google_budget (id, tokens, refilled_at, backoff_until) VALUES (1, NULL, 0, 0);
