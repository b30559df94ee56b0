-- A playbook's auto checks (src/playbooks): the checks it runs by itself when an alert opens (or reopens)
-- an incident. One row per incident and opening, written with the result's message in the thread, so a
-- job run again (a retry, the sweep, another worker) finds the checks done and posts nothing more.
CREATE TABLE IF NOT EXISTS playbook_check_runs (
  incident_id  bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  -- The incident's reopen_count when they ran: a reopened incident runs them again.
  opening      integer NOT NULL,
  playbook     text NOT NULL,
  service      text NOT NULL,
  -- Not run: the service's checks ran this lately for that incident of the same storm.
  covered_by   bigint,
  slack_ts     text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, opening)
);

-- Per service, its latest auto checks: in an alert storm, the incidents opened within the playbook's
-- autoChecksOncePer of them point at their results rather than run the same checks again.
CREATE TABLE IF NOT EXISTS service_auto_checks (
  service      text PRIMARY KEY,
  incident_id  bigint NOT NULL,
  opening      integer NOT NULL,
  checked_at   timestamptz NOT NULL DEFAULT now()
);

-- The result message is posted once, as incidents' messages are (slack_post_intents, keyed by incident).
ALTER TABLE slack_post_intents DROP CONSTRAINT IF EXISTS slack_post_intents_event_type_check;
ALTER TABLE slack_post_intents ADD CONSTRAINT slack_post_intents_event_type_check
  CHECK (event_type IN ('incident_root', 'incident_entry', 'action_request', 'heartbeat_missing',
                        'heartbeat_back', 'playbook_checks'));
