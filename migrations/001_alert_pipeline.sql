-- Incidents, the alerts that opened them, and their timeline.
-- Idempotent: every statement may run again on a database that already has it.

CREATE TABLE IF NOT EXISTS incidents (
  id              bigserial PRIMARY KEY,
  title           text NOT NULL,
  severity        text NOT NULL,
  state           text NOT NULL DEFAULT 'open',
  -- Alertmanager's groupKey for incidents opened by alerts; NULL for incidents declared by hand.
  group_key       text,
  channel_id      text NOT NULL,
  group_labels    jsonb NOT NULL DEFAULT '{}'::jsonb,
  common_labels   jsonb NOT NULL DEFAULT '{}'::jsonb,
  common_annotations jsonb NOT NULL DEFAULT '{}'::jsonb,
  external_url    text,
  -- Bumped by every change the Slack root message must show; root_version is what it shows now.
  version         integer NOT NULL DEFAULT 1,
  root_ts         text,
  root_version    integer NOT NULL DEFAULT 0,
  -- Dedup fast path: the identity of the last delivery that changed this incident.
  last_delivery_digest text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  resolved_at     timestamptz
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'incidents_severity_check') THEN
    ALTER TABLE incidents ADD CONSTRAINT incidents_severity_check CHECK (severity IN ('P0','P1','P2','P3','P4'));
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'incidents_state_check') THEN
    ALTER TABLE incidents ADD CONSTRAINT incidents_state_check CHECK (state IN ('open','resolved'));
  END IF;
END $$;

-- One open incident per alert group: two Alertmanager peers delivering at once meet here.
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_group_key
  ON incidents (group_key) WHERE state = 'open' AND group_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_group_key ON incidents (group_key, id DESC) WHERE group_key IS NOT NULL;
-- The reconciler looks for incidents whose Slack messages are behind.
CREATE INDEX IF NOT EXISTS incidents_slack_behind ON incidents (id) WHERE root_ts IS NULL OR root_version < version;

CREATE TABLE IF NOT EXISTS alerts (
  incident_id     bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  fingerprint     text NOT NULL,
  status          text NOT NULL,
  alertname       text NOT NULL,
  severity        text NOT NULL,
  labels          jsonb NOT NULL,
  annotations     jsonb NOT NULL,
  starts_at       timestamptz NOT NULL,
  ends_at         timestamptz,
  generator_url   text,
  first_seen_at   timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, fingerprint)
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'alerts_status_check') THEN
    ALTER TABLE alerts ADD CONSTRAINT alerts_status_check CHECK (status IN ('firing','resolved'));
  END IF;
END $$;

CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts (fingerprint);

CREATE TABLE IF NOT EXISTS timeline_entries (
  id              bigserial PRIMARY KEY,
  incident_id     bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  kind            text NOT NULL,
  actor           text NOT NULL,
  data            jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- Set once the entry has been shown in the incident's Slack thread.
  slack_ts        text
);

CREATE INDEX IF NOT EXISTS timeline_entries_incident ON timeline_entries (incident_id, id);
CREATE INDEX IF NOT EXISTS timeline_entries_unposted ON timeline_entries (incident_id, id) WHERE slack_ts IS NULL;
