-- The heartbeat (config `heartbeat`): an alert that always fires, such as Watchdog. A delivery of it
-- moves last_seen_at, one write; before the first, the first check starts the clock, so a pipeline that
-- was never wired is reported like one that broke.
CREATE TABLE IF NOT EXISTS heartbeats (
  alertname    text PRIMARY KEY,
  last_seen_at timestamptz NOT NULL
);

-- A time the heartbeat stayed away longer than expected. Slack is told twice: when it is found (the
-- alerting pipeline has been silent since `since`) and when the heartbeat is back (`ended_at`).
CREATE TABLE IF NOT EXISTS heartbeat_gaps (
  id                bigserial PRIMARY KEY,
  alertname         text NOT NULL,
  -- The heartbeat's last_seen_at when the gap was found: the last sign of a working pipeline.
  since             timestamptz NOT NULL,
  -- heartbeat.expectEvery then, and the default channel then, where both messages go.
  expect_every_ms   bigint NOT NULL,
  channel_id        text NOT NULL,
  found_at          timestamptz NOT NULL DEFAULT now(),
  -- The first delivery after it.
  ended_at          timestamptz,
  -- The two messages, once posted.
  missing_ts        text,
  back_ts           text
);

-- One open gap per heartbeat: of checkers finding it at once, one inserts it, and it is told once.
CREATE UNIQUE INDEX IF NOT EXISTS heartbeat_gaps_open ON heartbeat_gaps (alertname) WHERE ended_at IS NULL;
-- What the reconcile pass looks for: a message still to post.
CREATE INDEX IF NOT EXISTS heartbeat_gaps_behind_slack ON heartbeat_gaps (id)
  WHERE missing_ts IS NULL OR (ended_at IS NOT NULL AND back_ts IS NULL);

-- Both messages are posted once each, as incidents' are (slack_post_intents, keyed by the gap's id).
ALTER TABLE slack_post_intents DROP CONSTRAINT IF EXISTS slack_post_intents_event_type_check;
ALTER TABLE slack_post_intents ADD CONSTRAINT slack_post_intents_event_type_check
  CHECK (event_type IN ('incident_root', 'incident_entry', 'action_request', 'heartbeat_missing',
                        'heartbeat_back'));
