-- An incident's announcement (incidents.createChannel with an announcementChannel) is posted once: its
-- intent is recorded before the call, and an attempt whose answer was lost is looked up, not posted again
-- (src/slack/postOnce.ts).
ALTER TABLE slack_post_intents DROP CONSTRAINT IF EXISTS slack_post_intents_event_type_check;
ALTER TABLE slack_post_intents ADD CONSTRAINT slack_post_intents_event_type_check
  CHECK (event_type IN ('incident_root', 'incident_entry', 'action_request', 'heartbeat_missing',
                        'heartbeat_back', 'playbook_checks', 'health_result', 'incident_announcement'));
