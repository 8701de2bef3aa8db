-- Archiving: a finished dry run can be hidden from the campaign list (`archived_at` set); it stays
-- readable by id, its items and audit records are kept.
ALTER TABLE campaigns ADD COLUMN archived_at BIGINT;
