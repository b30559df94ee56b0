-- A silence the bot is about to ask Alertmanager for (src/silences/silences.ts), committed before it asks
-- and forgotten when the silence is recorded. One left behind (a crash, or a connection lost, between
-- Alertmanager's answer and the record) is why the next press looks through Alertmanager's silences for
-- one it set but never recorded; without one, it does not list them.
CREATE TABLE IF NOT EXISTS silence_attempts (
  -- The [incident-bot s-…] marker its comment carries.
  marker       text PRIMARY KEY,
  incident_id  bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  started_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS silence_attempts_incident ON silence_attempts (incident_id);
