-- When an incident's escalation policy started to count for it (src/escalation/engine.ts): its steps are
-- due this long after. Set when the escalation first finds a policy for the incident: its opening, if that
-- was within the last 10 minutes; else then, so that a policy added to the config, or a severity raised
-- onto one, escalates the incidents open for days from that moment instead of every step at once.
-- Reopening clears it (a start before the last opening is not read as this opening's).
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS escalation_started_at timestamptz;

-- Open incidents kept counting from their opening: those in the middle of their policy, and those opened
-- within the hour, whose first step may still be ahead. One older that never ran a step had no policy.
UPDATE incidents SET escalation_started_at = opened_at
 WHERE state = 'open' AND acknowledged_at IS NULL AND group_key IS NOT NULL AND escalation_started_at IS NULL
   AND (escalation_step BETWEEN 1 AND 2147483646
        OR (escalation_step = 0 AND opened_at > now() - interval '1 hour'));
