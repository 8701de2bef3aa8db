-- When the sweep last failed to settle an intent (Google could not be read, the person's claim
-- was held): the sweep takes the oldest intents first and skips those that failed a moment ago,
-- so that a few that keep failing cannot starve the others.
ALTER TABLE audit_events ADD COLUMN settle_failed_at BIGINT;
