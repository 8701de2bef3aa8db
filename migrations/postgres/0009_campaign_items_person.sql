-- The tracker finds a person's campaign items by address when it sees them accept or decline
-- (and retention deletes finished campaigns by when they finished).
CREATE INDEX campaign_items_person ON campaign_items (person);
CREATE INDEX campaigns_finished ON campaigns (state, updated_at);
