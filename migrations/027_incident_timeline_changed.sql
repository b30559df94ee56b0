-- Every serving process keeps what /incident timeline last showed of each incident (src/db/keptRead.ts,
-- src/commands/incidentHandlers.ts), and listens here to forget it as soon as it may be out of date: the
-- incident changed where its view shows it (src/views/incident.ts: incidentView; a column it reads from
-- must be named below), or deleted; its roles changed; an entry added to, changed on or taken from its
-- timeline; any of the three tables emptied. However it happened, from whichever process. The payload is
-- the incident's id; empty, every incident. Updates nothing shown makes (the Slack sync's root_ts and
-- versions, an ingest's digest and labels, an entry's slack_ts) tell nothing.
-- A row updated (its incident's, and the one it moved to), an incident deleted, or a table emptied.
CREATE OR REPLACE FUNCTION notify_incident_timeline_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  -- The incident each row is of: its own id in incidents, incident_id in the others.
  old_id bigint;
  new_id bigint;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('incident_timeline_changed', '');
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'incidents' THEN
    old_id := OLD.id;
    IF TG_OP = 'UPDATE' THEN new_id := NEW.id; END IF;
  ELSE
    old_id := OLD.incident_id;
    IF TG_OP = 'UPDATE' THEN new_id := NEW.incident_id; END IF;
  END IF;
  -- Sent once a transaction for each incident, however many rows: PostgreSQL folds notifications alike.
  PERFORM pg_notify('incident_timeline_changed', old_id::text);
  IF new_id <> old_id THEN PERFORM pg_notify('incident_timeline_changed', new_id::text); END IF;
  RETURN NULL;
END $$;

-- Rows inserted or deleted, a whole statement's at once (an ingest adds an entry for each alert changed):
-- each of their incidents told once.
CREATE OR REPLACE FUNCTION notify_incident_timelines_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('incident_timeline_changed', incident_id::text)
     FROM (SELECT DISTINCT incident_id FROM changed_rows) changed;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS incident_timeline_incident_updated ON incidents;
CREATE TRIGGER incident_timeline_incident_updated AFTER UPDATE ON incidents FOR EACH ROW
  WHEN ((OLD.id, OLD.title, OLD.severity, OLD.state, OLD.group_key IS NULL, OLD.status, OLD.impact,
         OLD.affected, OLD.eta, OLD.resolution, OLD.declared_by, OLD.update_count, OLD.next_update_due_at,
         OLD.created_at, OLD.resolved_at, OLD.reopen_count)
    IS DISTINCT FROM (NEW.id, NEW.title, NEW.severity, NEW.state, NEW.group_key IS NULL, NEW.status,
         NEW.impact, NEW.affected, NEW.eta, NEW.resolution, NEW.declared_by, NEW.update_count,
         NEW.next_update_due_at, NEW.created_at, NEW.resolved_at, NEW.reopen_count))
  EXECUTE FUNCTION notify_incident_timeline_changed();
DROP TRIGGER IF EXISTS incident_timeline_incident_deleted ON incidents;
CREATE TRIGGER incident_timeline_incident_deleted AFTER DELETE ON incidents FOR EACH ROW
  EXECUTE FUNCTION notify_incident_timeline_changed();
DROP TRIGGER IF EXISTS incident_timeline_incidents_truncated ON incidents;
CREATE TRIGGER incident_timeline_incidents_truncated AFTER TRUNCATE ON incidents
  FOR EACH STATEMENT EXECUTE FUNCTION notify_incident_timeline_changed();

DROP TRIGGER IF EXISTS incident_timeline_roles_inserted ON incident_roles;
CREATE TRIGGER incident_timeline_roles_inserted AFTER INSERT ON incident_roles
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_incident_timelines_changed();
DROP TRIGGER IF EXISTS incident_timeline_roles_deleted ON incident_roles;
CREATE TRIGGER incident_timeline_roles_deleted AFTER DELETE ON incident_roles
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_incident_timelines_changed();
DROP TRIGGER IF EXISTS incident_timeline_roles_updated ON incident_roles;
CREATE TRIGGER incident_timeline_roles_updated AFTER UPDATE ON incident_roles FOR EACH ROW
  WHEN ((OLD.incident_id, OLD.role, OLD.user_id) IS DISTINCT FROM (NEW.incident_id, NEW.role, NEW.user_id))
  EXECUTE FUNCTION notify_incident_timeline_changed();
DROP TRIGGER IF EXISTS incident_timeline_roles_truncated ON incident_roles;
CREATE TRIGGER incident_timeline_roles_truncated AFTER TRUNCATE ON incident_roles
  FOR EACH STATEMENT EXECUTE FUNCTION notify_incident_timeline_changed();

DROP TRIGGER IF EXISTS incident_timeline_entries_inserted ON timeline_entries;
CREATE TRIGGER incident_timeline_entries_inserted AFTER INSERT ON timeline_entries
  REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_incident_timelines_changed();
DROP TRIGGER IF EXISTS incident_timeline_entries_deleted ON timeline_entries;
CREATE TRIGGER incident_timeline_entries_deleted AFTER DELETE ON timeline_entries
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION notify_incident_timelines_changed();
DROP TRIGGER IF EXISTS incident_timeline_entries_updated ON timeline_entries;
CREATE TRIGGER incident_timeline_entries_updated AFTER UPDATE ON timeline_entries FOR EACH ROW
  WHEN ((OLD.id, OLD.incident_id, OLD.kind, OLD.actor, OLD.data, OLD.created_at)
    IS DISTINCT FROM (NEW.id, NEW.incident_id, NEW.kind, NEW.actor, NEW.data, NEW.created_at))
  EXECUTE FUNCTION notify_incident_timeline_changed();
DROP TRIGGER IF EXISTS incident_timeline_entries_truncated ON timeline_entries;
CREATE TRIGGER incident_timeline_entries_truncated AFTER TRUNCATE ON timeline_entries
  FOR EACH STATEMENT EXECUTE FUNCTION notify_incident_timeline_changed();
