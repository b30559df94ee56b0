-- Remediation actions that run only after SREs approve them, with every vote and move on record.

CREATE TABLE IF NOT EXISTS action_requests (
  id               bigserial PRIMARY KEY,
  -- The incident it was requested in, when there was one.
  incident_id      bigint REFERENCES incidents (id) ON DELETE SET NULL,
  action           text NOT NULL,
  service          text NOT NULL,
  params           jsonb NOT NULL DEFAULT '{}'::jsonb,
  requested_by     text NOT NULL,
  channel_id       text NOT NULL,
  thread_ts        text,
  -- pending → approved → running → succeeded | failed; or rejected, expired, cancelled
  status           text NOT NULL DEFAULT 'pending',
  -- Optimistic lock: every move is UPDATE … WHERE status = $from AND version = $v.
  version          integer NOT NULL DEFAULT 1,
  required_approvals integer NOT NULL,
  expires_at       timestamptz NOT NULL,
  -- none (the action has no dry run), running, ok, failed
  dry_run_status   text NOT NULL DEFAULT 'none',
  dry_run_output   text,
  summary          text,
  output           text,
  exit_code        integer,
  attempts         integer NOT NULL DEFAULT 0,
  -- The approval message in Slack and the version it shows.
  message_ts       text,
  message_version  integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  started_at       timestamptz,
  finished_at      timestamptz
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'action_requests_status_check') THEN
    ALTER TABLE action_requests ADD CONSTRAINT action_requests_status_check CHECK (status IN
      ('pending', 'approved', 'running', 'succeeded', 'failed', 'rejected', 'expired', 'cancelled'));
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'action_requests_dry_run_check') THEN
    ALTER TABLE action_requests ADD CONSTRAINT action_requests_dry_run_check CHECK (dry_run_status IN
      ('none', 'running', 'ok', 'failed'));
  END IF;
END $$;

CREATE INDEX IF NOT EXISTS action_requests_open ON action_requests (id)
  WHERE status IN ('pending', 'approved', 'running');
CREATE INDEX IF NOT EXISTS action_requests_message_behind ON action_requests (id)
  WHERE message_ts IS NULL OR message_version < version;

-- One vote per person per request: a double click is the same vote.
CREATE TABLE IF NOT EXISTS action_votes (
  request_id  bigint NOT NULL REFERENCES action_requests (id) ON DELETE CASCADE,
  user_id     text NOT NULL,
  decision    text NOT NULL CHECK (decision IN ('approve', 'reject')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (request_id, user_id)
);

-- The audit trail: who moved a request from which status and version to which.
CREATE TABLE IF NOT EXISTS action_request_events (
  id            bigserial PRIMARY KEY,
  request_id    bigint NOT NULL REFERENCES action_requests (id) ON DELETE CASCADE,
  actor         text NOT NULL,
  from_status   text,
  to_status     text NOT NULL,
  from_version  integer,
  to_version    integer NOT NULL,
  detail        text,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS action_request_events_request ON action_request_events (request_id, id);

-- Services running with degradation enabled, until a disable action succeeds.
CREATE TABLE IF NOT EXISTS service_degradations (
  service        text PRIMARY KEY,
  enabled_at     timestamptz NOT NULL DEFAULT now(),
  request_id     bigint REFERENCES action_requests (id) ON DELETE SET NULL,
  incident_id    bigint REFERENCES incidents (id) ON DELETE SET NULL,
  reminded_at    timestamptz
);
