-- When a declared incident's commander reminder is due (incidents.commanderReminderAfter after it was
-- declared), until the reminder has run: the workers' sweep schedules it again from here, as it does the
-- update reminders, so that one Redis lost is still sent. The reminder clears it once it has run (sent,
-- a commander found, the incident resolved). Incidents declared before this keep the job they have.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS commander_reminder_due_at timestamptz;
