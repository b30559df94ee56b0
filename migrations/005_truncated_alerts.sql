-- How many alerts the group's latest notification did not list: Alertmanager's truncatedAlerts, and
-- those the bot read but did not keep (src/http/alertmanagerBody.ts). The root message says so.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS truncated_alerts integer NOT NULL DEFAULT 0;
