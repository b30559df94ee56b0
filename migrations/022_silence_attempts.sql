-- A silence the bot is about to ask Alertmanager for (src/silences/silences.ts), committed before it asks
-- and forgotten when the silence is recorded. One left behind (a crash, or a connection lost, between
-- Alertmanager's answer and the record) is why the next press looks through Alertmanager's silences for
-- one it set but never recorded; without one, it does not list them.
CREATE TABLE IF NOT EXISTS silence_attempts (
  -- The [incident-bot s-…] marker its comment carries ('before-022:<incident>' for those the migration left).
  marker       text PRIMARY KEY,
  incident_id  bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
  started_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS silence_attempts_incident ON silence_attempts (incident_id);

-- A silence orphaned before this table existed left no attempt: each open alert-born incident looks
-- through Alertmanager's silences once, at its next press, as every press did before.
INSERT INTO silence_attempts (marker, incident_id)
SELECT 'before-022:' || id, id FROM incidents WHERE group_key IS NOT NULL AND state = 'open'
ON CONFLICT DO NOTHING;
