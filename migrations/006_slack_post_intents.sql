-- A Slack post about to be made: recorded before chat.postMessage and removed in the transaction that
-- records the posted message's ts. One left behind means the post's outcome is unknown (a crash, a
-- timeout, a 5xx after Slack took it): the next sync looks for the message by its nonce, carried in the
-- message's metadata, and adopts it instead of posting a second one.
CREATE TABLE IF NOT EXISTS slack_post_intents (
  -- The message's metadata event_type: incident_root, incident_entry (a thread reply), action_request.
  event_type   text NOT NULL,
  -- The incident (incident_root, incident_entry) or the action request (action_request).
  subject_id   bigint NOT NULL,
  nonce        uuid NOT NULL,
  channel_id   text NOT NULL,
  -- The thread it was posted in, if any: where to look for it.
  thread_ts    text,
  -- The version of the incident or request the message shows.
  version      integer NOT NULL,
  -- The timeline entries the message shows.
  entry_ids    bigint[] NOT NULL DEFAULT '{}',
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_type, subject_id)
);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'slack_post_intents_event_type_check') THEN
    ALTER TABLE slack_post_intents ADD CONSTRAINT slack_post_intents_event_type_check
      CHECK (event_type IN ('incident_root', 'incident_entry', 'action_request'));
  END IF;
END $$;
