-- The pace told truthfully: when each campaign item's first mail went out (store clock, ms),
-- so that a campaign with reminders can say when its initial mails finished. Items mailed
-- before this column existed take their last mail's time (exact when no reminder went out).
ALTER TABLE campaign_items ADD COLUMN first_mail_at INTEGER;
UPDATE campaign_items SET first_mail_at = last_mail_at WHERE mails > 0;
