-- Rosters join back to their reports: a roster campaign keeps the names of the roster's other
-- columns (a JSON array of strings), and each of its items its row number in the roster (the
-- header is row 1) and its values of those columns (a JSON array, in the same order).
ALTER TABLE campaigns ADD COLUMN roster_columns TEXT;
ALTER TABLE campaign_items ADD COLUMN roster_row INTEGER;
ALTER TABLE campaign_items ADD COLUMN roster_values TEXT;
