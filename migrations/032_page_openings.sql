-- What page sync must know of the pager's alert beyond the last event it took (src/paging/pageSync.ts).

-- A trigger whose outcome is not known: its answer was lost, its sender died before recording it, or a
-- retry was refused after a try that may have got through. The pager may hold an alert for the page, so
-- the incident's acknowledgement and resolution are sent to it.
ALTER TABLE incident_pages ADD COLUMN IF NOT EXISTS trigger_unsettled boolean NOT NULL DEFAULT false;
-- The opening of the incident (its reopen_count) that sent_action belongs to. A reopening whose pager
-- still holds an alert of an earlier opening resolves it first: an acknowledged one would take the new
-- trigger in, and nobody would be paged.
ALTER TABLE incident_pages ADD COLUMN IF NOT EXISTS sent_opening integer;

-- Pages from before: a trigger failing with retries, or claimed and never recorded, may have got through.
UPDATE incident_pages SET trigger_unsettled = true
 WHERE sent_action IS NULL AND (retry_at IS NOT NULL OR sending_until IS NOT NULL);
UPDATE incident_pages p SET sent_opening = i.reopen_count
  FROM incidents i
 WHERE i.id = p.incident_id AND p.sent_action IS NOT NULL AND p.sent_opening IS NULL;
