-- Incidents run from Slack: declared by hand, status updates, roles, resolution, post-mortems.

ALTER TABLE incidents ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'investigating';
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS impact text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS affected text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS eta text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS resolution text;
-- Slack user who declared it; NULL for incidents opened by alerts.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS declared_by text;
-- True when the incident has a channel of its own (incidents.createChannel).
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS dedicated_channel boolean NOT NULL DEFAULT false;
-- The pointer posted in the announcement channel when the incident got a channel of its own.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS announcement_channel_id text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS announcement_ts text;
-- Status updates: how many so far, when the last was posted, when the next is due.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS update_count integer NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS last_update_at timestamptz;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS next_update_due_at timestamptz;
-- A dedicated channel is created by a job; until then the incident has no channel.
ALTER TABLE incidents ALTER COLUMN channel_id DROP NOT NULL;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'incidents_status_check') THEN
    ALTER TABLE incidents ADD CONSTRAINT incidents_status_check
      CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved'));
  END IF;
END $$;

CREATE UNIQUE INDEX IF NOT EXISTS incidents_channel_dedicated
  ON incidents (channel_id) WHERE dedicated_channel AND channel_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS incidents_open ON incidents (id) WHERE state = 'open';

CREATE TABLE IF NOT EXISTS incident_roles (
  incident_id  bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  role         text NOT NULL,
  user_id      text NOT NULL,
  assigned_by  text NOT NULL,
  assigned_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, role)
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'incident_roles_role_check') THEN
    ALTER TABLE incident_roles ADD CONSTRAINT incident_roles_role_check CHECK (role IN ('commander', 'scribe', 'comms'));
  END IF;
END $$;

CREATE TABLE IF NOT EXISTS postmortems (
  incident_id   bigint PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
  markdown      text NOT NULL,
  revision      integer NOT NULL DEFAULT 1,
  generated_at  timestamptz NOT NULL DEFAULT now(),
  generated_by  text NOT NULL,
  -- The Slack file of the latest revision, once uploaded.
  slack_file_id text
);

-- Requests from Slack already acted on, so that a retried or repeated request changes nothing twice.
CREATE TABLE IF NOT EXISTS slack_requests (
  request_key  text PRIMARY KEY,
  received_at  timestamptz NOT NULL DEFAULT now()
);
