-- Every serving process answers a group's repeats from memory once it has read that the group's open
-- incident shows them (src/alerts/shownDigests.ts), and listens here to forget the group as soon as a
-- repeat of it may be news: a delivery of it stored, by any process, or its open incident resolved,
-- deleted, moved to another group or made to show another notification, however it happened.
-- A payload is JSON: an array of group keys, or null for every group. Keys longer than 1024 characters
-- are never remembered (MAX_REMEMBERED_KEY in src/alerts/lastAccepted.ts) and not sent: each sent fits,
-- escaped, in a notification's 8,000 bytes, and keys go in as many notifications as they need.
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
      PERFORM pg_notify('alert_groups_changed', array_to_json(chunk)::text);
      chunk := '{}';
      chunk_bytes := 0;
    END IF;
    chunk := chunk || group_key;
    chunk_bytes := chunk_bytes + key_bytes;
  END LOOP;
  IF cardinality(chunk) > 0 THEN
    PERFORM pg_notify('alert_groups_changed', array_to_json(chunk)::text);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION alert_deliveries_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM notify_alert_groups_changed(ARRAY(SELECT DISTINCT group_key FROM stored));
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS alert_deliveries_stored ON alert_deliveries;
CREATE TRIGGER alert_deliveries_stored AFTER INSERT ON alert_deliveries
  REFERENCING NEW TABLE AS stored FOR EACH STATEMENT EXECUTE FUNCTION alert_deliveries_stored();

CREATE OR REPLACE FUNCTION incidents_shown_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('alert_groups_changed', 'null');
  ELSE
    PERFORM notify_alert_groups_changed(ARRAY[OLD.group_key]);
  END IF;
  RETURN NULL;
END $$;

-- An open incident of a group no longer showing what it showed. (An incident opened or reopened only
-- turns news into repeats: nothing to tell.)
DROP TRIGGER IF EXISTS incidents_shown_changed ON incidents;
CREATE TRIGGER incidents_shown_changed AFTER UPDATE ON incidents FOR EACH ROW
  WHEN (OLD.state = 'open' AND OLD.group_key IS NOT NULL AND (
    NEW.state IS DISTINCT FROM OLD.state OR NEW.group_key IS DISTINCT FROM OLD.group_key
    OR NEW.last_delivery_digest IS DISTINCT FROM OLD.last_delivery_digest))
  EXECUTE FUNCTION incidents_shown_changed();
DROP TRIGGER IF EXISTS incidents_shown_deleted ON incidents;
CREATE TRIGGER incidents_shown_deleted AFTER DELETE ON incidents FOR EACH ROW
  WHEN (OLD.state = 'open' AND OLD.group_key IS NOT NULL)
  EXECUTE FUNCTION incidents_shown_changed();
DROP TRIGGER IF EXISTS incidents_shown_truncated ON incidents;
CREATE TRIGGER incidents_shown_truncated AFTER TRUNCATE ON incidents
  FOR EACH STATEMENT EXECUTE FUNCTION incidents_shown_changed();
