-- A post-mortem asked for (the command, the button, a resolve with incidents.postmortemOnResolve) and not
-- yet in Slack: the workers' sweep queues it again while it is here, so that one whose job Redis lost, or
-- that failed every try, is still written. Its upload ends it, unless asked again since that revision was
-- written (then the next revision answers it). Asked for twice before it is done, it is one request.
CREATE TABLE IF NOT EXISTS postmortem_requests (
  incident_id  bigint PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
  requested_by text NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
