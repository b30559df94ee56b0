-- What the requested action's run would do when it was asked for (actionDigest in src/actions/catalog.ts:
-- kind, driver settings, params schema, timeout…): a run or dry run whose catalog entry no longer has it is
-- refused, so what runs is what was approved. NULL on requests made before this column: those are refused
-- too, since what their approvers saw is unknown.
ALTER TABLE action_requests ADD COLUMN IF NOT EXISTS action_digest text;
