-- Silences the bot set in Alertmanager for incidents (src/silences). Alertmanager holds the silence;
-- this records which one is the incident's, by whom and why, so that the root message can show it and
-- extend/unsilence know what to change. Extending may make Alertmanager replace the silence with a new
-- id: the row is updated in place to the id it returned (the timeline entries keep the earlier ones).
CREATE TABLE IF NOT EXISTS incident_silences (
  id           bigserial PRIMARY KEY,
  incident_id  bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  silence_id   text NOT NULL,
  -- The [incident-bot …] marker in the silence's comment: how a silence Alertmanager took but this
  -- table never recorded (a crash in between) is found again instead of being created twice.
  marker       text NOT NULL,
  matchers     jsonb NOT NULL,
  starts_at    timestamptz NOT NULL,
  ends_at      timestamptz NOT NULL,
  silenced_by  text NOT NULL,
  reason       text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  -- live: the incident's silence; ended: unsilenced (ended_by), or its end passed (ended_by NULL).
  state        text NOT NULL DEFAULT 'live',
  ended_at     timestamptz,
  ended_by     text
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'incident_silences_state_check') THEN
    ALTER TABLE incident_silences ADD CONSTRAINT incident_silences_state_check CHECK (state IN ('live', 'ended'));
  END IF;
END $$;

-- At most one live silence per incident.
CREATE UNIQUE INDEX IF NOT EXISTS incident_silences_live ON incident_silences (incident_id) WHERE state = 'live';
CREATE UNIQUE INDEX IF NOT EXISTS incident_silences_marker ON incident_silences (marker);
