-- Who took an alert-born incident, and when (/incident ack, the Acknowledge button). A reopened incident
-- needs an owner again: reopening clears both and moves opened_at, from which the time to acknowledge
-- and the escalation steps count.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS acknowledged_by text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS acknowledged_at timestamptz;
-- When the incident last opened: created, or reopened.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS opened_at timestamptz;
UPDATE incidents SET opened_at = created_at WHERE opened_at IS NULL;
ALTER TABLE incidents ALTER COLUMN opened_at SET DEFAULT now();
ALTER TABLE incidents ALTER COLUMN opened_at SET NOT NULL;
