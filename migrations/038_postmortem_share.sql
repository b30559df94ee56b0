-- A post-mortem's share into its thread whose outcome is not yet known: the staged file's id (from
-- files.getUploadURLExternal), where it is to be shown and when, recorded before files.completeUploadExternal.
-- An attempt whose answer was lost is looked up by the file's id in the thread rather than shared again
-- (src/slack/shareOnce.ts). Cleared when the file is recorded, the share refused, or a revision written.
ALTER TABLE postmortems
  ADD COLUMN IF NOT EXISTS share_file_id text,
  ADD COLUMN IF NOT EXISTS share_channel_id text,
  ADD COLUMN IF NOT EXISTS share_thread_ts text,
  ADD COLUMN IF NOT EXISTS share_started_at timestamptz;
