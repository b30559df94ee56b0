-- When an incident's escalation policy started to count for it (src/escalation/engine.ts): its steps are
-- due this long after. Set when the escalation first finds a policy for the incident: its opening, if that
-- was within the last few minutes; else then, so that a policy added to the config, or a severity raised
-- onto one, escalates the incidents open for days from that moment instead of every step at once.
-- Reopening clears it.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS escalation_started_at timestamptz;

-- Incidents in the middle of their policy keep counting from their opening.
UPDATE incidents SET escalation_started_at = opened_at
 WHERE state = 'open' AND escalation_started_at IS NULL AND escalation_step BETWEEN 1 AND 2147483646;
