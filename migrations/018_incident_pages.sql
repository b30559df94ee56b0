-- Pages sent for incidents (src/paging): one row per incident and pager, asked for by an escalation
-- step. The pager (PagerDuty, a webhook) shows a projection of the incident: trigger while it is open
-- and unacknowledged, acknowledge once acknowledged, resolve once resolved. The row records what the
-- pager last accepted (sent_action) so a sync sends only what differs, and the current failure streak.
CREATE TABLE IF NOT EXISTS incident_pages (
  id             bigserial PRIMARY KEY,
  incident_id    bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  pager          text NOT NULL,
  -- The escalation step that asked for the page first.
  step           integer NOT NULL,
  -- The same for every event of this incident on this pager: PagerDuty groups them into one alert by it.
  dedup_key      text NOT NULL,
  requested_at   timestamptz NOT NULL DEFAULT now(),
  -- trigger, acknowledge or resolve: the last event the pager accepted (NULL: none yet).
  sent_action    text,
  sent_at        timestamptz,
  -- A worker sending holds the page until then; a crashed one's claim simply runs out.
  sending_until  timestamptz,
  -- The current failure streak: the event failing, how many tries failed, the last error and since when.
  failed_action  text,
  attempts       integer NOT NULL DEFAULT 0,
  last_error     text,
  failing_since  timestamptz,
  -- When the failing event is tried again; NULL while failing: the pager refused it (a 4xx), so it
  -- waits for the incident's next opening (failed_opening is its reopen_count then) or a restart.
  retry_at       timestamptz,
  failed_opening integer,
  updated_at     timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'incident_pages_sent_action_check') THEN
    ALTER TABLE incident_pages ADD CONSTRAINT incident_pages_sent_action_check
      CHECK (sent_action IN ('trigger', 'acknowledge', 'resolve'));
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'incident_pages_failed_action_check') THEN
    ALTER TABLE incident_pages ADD CONSTRAINT incident_pages_failed_action_check
      CHECK (failed_action IN ('trigger', 'acknowledge', 'resolve'));
  END IF;
END $$;

-- A second request for the same pager is the same page (a restarted step, a reopen).
CREATE UNIQUE INDEX IF NOT EXISTS incident_pages_incident_pager ON incident_pages (incident_id, pager);
CREATE UNIQUE INDEX IF NOT EXISTS incident_pages_dedup_key ON incident_pages (dedup_key);
