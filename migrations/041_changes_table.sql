-- Every serving process learns of changes to what it keeps in memory (migrations 024 to 028) by polling
-- this table, no longer by NOTIFY: PostgreSQL makes the commits of transactions that NOTIFY take turns
-- behind one lock for the whole server, and `npm run bench -- notify` measured it taking a quarter to
-- half of the declares PostgreSQL could commit. The triggers now write each change as a row here, stamped
-- with its transaction's id. A process reads the rows of the transactions still running at its last read
-- or begun after it (src/db/changes.ts), so a change committed late is never skipped.
-- Unlogged: no WAL for it. A crash or a failover empties it, and ends every session too, which makes every
-- process forget what it kept. Rows are deleted a minute after every transaction as old as theirs ended:
-- a process whose reads stopped for half of that forgets everything (see src/db/changes.ts). Processes
-- of an older version, which LISTEN, hear nothing once this is applied: the README says how to upgrade.
CREATE UNLOGGED TABLE IF NOT EXISTS changes (
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  channel text NOT NULL,
  payload text NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_xid ON changes (xid);

CREATE OR REPLACE FUNCTION tell_change(channel text, payload text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO changes (channel, payload) VALUES (channel, payload) $$;

-- The functions of migrations 024 to 028, each with pg_notify replaced by tell_change. A payload is as
-- before; a row has no 8,000-byte limit, but the group keys still go in chunks, as the hearers read them.
CREATE OR REPLACE FUNCTION notify_alert_groups_changed(group_keys text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  chunk text[] := '{}';
  chunk_bytes integer := 0;
  group_key text;
  key_bytes integer;
BEGIN
  FOREACH group_key IN ARRAY group_keys LOOP
    CONTINUE WHEN length(group_key) > 1024;
    key_bytes := octet_length(to_json(group_key)::text) + 1;
    IF chunk_bytes + key_bytes > 7000 THEN
      PERFORM tell_change('alert_groups_changed', array_to_json(chunk)::text);
      chunk := '{}';
      chunk_bytes := 0;
    END IF;
    chunk := chunk || group_key;
    chunk_bytes := chunk_bytes + key_bytes;
  END LOOP;
  IF cardinality(chunk) > 0 THEN
    PERFORM tell_change('alert_groups_changed', array_to_json(chunk)::text);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION incidents_shown_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM tell_change('alert_groups_changed', 'null');
  ELSE
    PERFORM notify_alert_groups_changed(ARRAY[OLD.group_key]);
  END IF;
  RETURN NULL;
END $$;

-- A row for each row changed: NOTIFY folded those alike within a transaction, a read folds those alike
-- that it finds.
CREATE OR REPLACE FUNCTION notify_listed_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tell_change(TG_ARGV[0], '');
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_incident_timeline_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  old_id bigint;
  new_id bigint;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM tell_change('incident_timeline_changed', '');
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'incidents' THEN
    old_id := OLD.id;
    IF TG_OP = 'UPDATE' THEN new_id := NEW.id; END IF;
  ELSE
    old_id := OLD.incident_id;
    IF TG_OP = 'UPDATE' THEN new_id := NEW.incident_id; END IF;
  END IF;
  PERFORM tell_change('incident_timeline_changed', old_id::text);
  IF new_id <> old_id THEN PERFORM tell_change('incident_timeline_changed', new_id::text); END IF;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_incident_timelines_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tell_change('incident_timeline_changed', incident_id::text)
     FROM (SELECT DISTINCT incident_id FROM changed_rows) changed;
  RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION notify_opening_alerts_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM changed_alerts a JOIN incidents i
               ON i.id = a.incident_id AND i.created_at = a.first_seen_at) THEN
    PERFORM tell_change('incident_stats_changed', '');
  END IF;
  RETURN NULL;
END $$;
