-- What page sync must know of the pager's alert beyond the last event it took (src/paging/pageSync.ts).

-- A trigger whose outcome is not known, and the incident's opening (its reopen_count) it was for: its
-- answer was lost, its sender died before recording it, or a retry was refused after a try that may have
-- got through. The pager may hold an alert for the page, so the incident's acknowledgement and resolution
-- are sent to it. NULL: none.
ALTER TABLE incident_pages ADD COLUMN IF NOT EXISTS trigger_unsettled_opening integer;
-- The opening that sent_action belongs to. A reopening whose pager still holds an alert of an earlier
-- opening resolves it first: an acknowledged one would take the new trigger in, and nobody would be paged.
ALTER TABLE incident_pages ADD COLUMN IF NOT EXISTS sent_opening integer;

-- Pages from before: a trigger failing with retries, or claimed and never recorded, may have got through.
UPDATE incident_pages p SET trigger_unsettled_opening = i.reopen_count
  FROM incidents i
 WHERE i.id = p.incident_id AND p.trigger_unsettled_opening IS NULL AND p.sent_action IS NULL
   AND (p.retry_at IS NOT NULL OR p.sending_until IS NOT NULL);
-- An event sent before the incident's last opening was for the opening before it.
UPDATE incident_pages p
   SET sent_opening = CASE WHEN p.sent_at < i.opened_at THEN i.reopen_count - 1 ELSE i.reopen_count END
  FROM incidents i
 WHERE i.id = p.incident_id AND p.sent_action IS NOT NULL AND p.sent_opening IS NULL;
