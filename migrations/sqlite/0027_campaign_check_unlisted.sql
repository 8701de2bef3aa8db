-- Rosters from the tracker's snapshot: whether a campaign asks isInvitableUser about the people
-- the snapshot does not show (1, the default) or ends them `not_listed` without a call (0).
ALTER TABLE campaigns ADD COLUMN check_unlisted INTEGER NOT NULL DEFAULT 1;
