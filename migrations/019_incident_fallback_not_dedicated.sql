-- An incident moved to a fallback channel (Slack refused or did not create its own) is shown in a
-- shared channel, not one of its own: it stops being dedicated, as moveToFallbackChannel now does.
UPDATE incidents SET dedicated_channel = false WHERE dedicated_channel AND slack_error IS NOT NULL;
