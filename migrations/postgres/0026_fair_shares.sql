-- Fair shares between creators and a work-conserving Google budget (issue 24).
-- served_turn: the cluster-wide turn at which a worker last claimed items of the campaign (0:
-- never); workers serve the creator whose campaigns were served longest ago first.
ALTER TABLE campaigns ADD COLUMN served_turn BIGINT NOT NULL DEFAULT 0;
-- interactive: how many of a second's granted calls were a waiting caller's; the budget keeps
-- slots free for callers in proportion to their calls of the last window.
ALTER TABLE google_calls ADD COLUMN interactive BIGINT NOT NULL DEFAULT 0;
-- waiting_reason: why a `waiting` campaign waits (mail_limit, google_budget, breaker_open,
-- google_unavailable, store_unavailable, audit_unavailable); read only while it waits.
ALTER TABLE campaigns ADD COLUMN waiting_reason TEXT;
