-- Deadlines and runs from dry runs: a campaign may have a deadline (`deadline`, epoch millis)
-- with what happens then to the invitations still open (`at_deadline`: keep or cancel), the
-- moment a replica passed it (`deadline_reached_at`, set once, in the transaction that makes
-- its people `no_answer`), and the dry run it was started from (`from_dry_run`).
ALTER TABLE campaigns ADD COLUMN deadline BIGINT;
ALTER TABLE campaigns ADD COLUMN at_deadline TEXT NOT NULL DEFAULT 'keep';
ALTER TABLE campaigns ADD COLUMN deadline_reached_at BIGINT;
ALTER TABLE campaigns ADD COLUMN from_dry_run TEXT;
CREATE INDEX campaigns_deadline_due ON campaigns (deadline) WHERE deadline_reached_at IS NULL;
