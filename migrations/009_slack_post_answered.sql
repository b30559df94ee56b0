-- When Slack answered a post's attempt with an error of its own (a 500 or 503, internal_error): the
-- attempt is over on Slack's side, so a lookup that does not find it may post again at once. NULL: no
-- answer came (a timeout, a crash, a gateway's 502 or 504), and Slack may still take it for a while
-- (POST_ATTEMPT_MAX_MS in src/slack/postOnce.ts).
ALTER TABLE slack_post_intents ADD COLUMN IF NOT EXISTS answered_at timestamptz;
