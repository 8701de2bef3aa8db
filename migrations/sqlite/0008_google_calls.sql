-- Google calls granted per UTC second (seconds since the epoch), for the cluster-wide budget: a
-- call is granted only while the calls of the last 62 seconds are under the quota, so that no
-- minute Google counts, wherever it starts, sees more. Rows older than that are deleted as calls
-- are granted. google_budget keeps its row as the lock and for backoff_until; its tokens and
-- refilled_at are no longer read.
CREATE TABLE google_calls (
    at_second INTEGER PRIMARY KEY,
    calls     INTEGER NOT NULL
);
