-- Health checks someone asked for (/health, the Run health check button, a playbook's check button) whose
-- result is not in Slack yet. Written as the job is queued and deleted in the transaction that records
-- the posted result, so a job run again (a retry, the workers' sweep after Redis lost it) finds it done
-- and posts nothing more; one still here is queued again by the sweep.
CREATE TABLE IF NOT EXISTS health_requests (
  id            bigserial PRIMARY KEY,
  -- The Slack request that asked (command:<trigger_id>, click:<trigger_id>).
  request_key   text NOT NULL UNIQUE,
  services      text[] NOT NULL,
  -- Only these checks of each service (a playbook's check button); all of them when NULL.
  checks        text[],
  channel_id    text NOT NULL,
  -- Where the result goes when known as it was asked (a button on the incident's root); an incident's
  -- result in a shared channel otherwise goes in the thread of its root, read as it is posted.
  thread_ts     text,
  requested_by  text NOT NULL,
  incident_id   bigint REFERENCES incidents (id) ON DELETE CASCADE,
  -- The checks' result once run: the post is tried again with it, and its timeline entries record what
  -- the message adopted after a lost answer showed.
  result        jsonb,
  requested_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The result message is posted once (slack_post_intents, keyed by the request).
ALTER TABLE slack_post_intents DROP CONSTRAINT IF EXISTS slack_post_intents_event_type_check;
ALTER TABLE slack_post_intents ADD CONSTRAINT slack_post_intents_event_type_check
  CHECK (event_type IN ('incident_root', 'incident_entry', 'action_request', 'heartbeat_missing',
                        'heartbeat_back', 'playbook_checks', 'health_result'));
