-- Incremental walks. `walk_full`: the walk in progress is a full walk (email order, marks
-- the people it did not list missing) rather than an incremental one (update_time desc, down to
-- the watermark). `walk_newest`: the newest updateTime the walk in progress has seen.
-- `watermark`: the newest updateTime every complete walk so far accounts for; an incremental
-- walk stops at it less a safety margin. `full_finished_at`: when the last full walk finished
-- (store clock); NULL: none yet, the next walk is full.
ALTER TABLE tracker_walks ADD COLUMN walk_full BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tracker_walks ADD COLUMN walk_newest INTEGER;
ALTER TABLE tracker_walks ADD COLUMN watermark INTEGER;
ALTER TABLE tracker_walks ADD COLUMN full_finished_at INTEGER;
