-- Each audit record says why (the reason of its outcome), and a send's intent keeps Google's
-- mail count before the call, so that an outcome nobody could record (the process was cut off,
-- the store could not write) is settled later by reading the invitation again.
ALTER TABLE audit_events ADD COLUMN detail TEXT;
ALTER TABLE audit_events ADD COLUMN mails_before INTEGER;
CREATE INDEX audit_events_unsettled ON audit_events (email)
    WHERE outcome IS NULL OR outcome = 'unknown';
