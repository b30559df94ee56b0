-- Every serving process keeps what /incident list last read of the open incidents (src/db/keptRead.ts,
-- src/incidents/incidentStore.ts: listOpenIncidents), and listens here to forget it as soon as it may be
-- out of date: an incident opened, closed or deleted; an open one's title, severity, status, channel or
-- opening time changed; a commander named, changed or removed; either table emptied. However it happened,
-- from whichever process. The payload says nothing: everything is read again.
-- The channel is the trigger's argument.
CREATE OR REPLACE FUNCTION notify_listed_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- Sent once a transaction, however many rows: PostgreSQL folds notifications alike.
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS open_incidents_inserted ON incidents;
CREATE TRIGGER open_incidents_inserted AFTER INSERT ON incidents FOR EACH ROW
  WHEN (NEW.state = 'open') EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');
DROP TRIGGER IF EXISTS open_incidents_updated ON incidents;
CREATE TRIGGER open_incidents_updated AFTER UPDATE ON incidents FOR EACH ROW
  WHEN ((OLD.state = 'open' OR NEW.state = 'open')
    AND (OLD.id, OLD.state, OLD.title, OLD.severity, OLD.status, OLD.channel_id, OLD.created_at)
      IS DISTINCT FROM (NEW.id, NEW.state, NEW.title, NEW.severity, NEW.status, NEW.channel_id, NEW.created_at))
  EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');
DROP TRIGGER IF EXISTS open_incidents_deleted ON incidents;
CREATE TRIGGER open_incidents_deleted AFTER DELETE ON incidents FOR EACH ROW
  WHEN (OLD.state = 'open') EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');
DROP TRIGGER IF EXISTS open_incidents_truncated ON incidents;
CREATE TRIGGER open_incidents_truncated AFTER TRUNCATE ON incidents
  FOR EACH STATEMENT EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');

DROP TRIGGER IF EXISTS open_incidents_commander_inserted ON incident_roles;
CREATE TRIGGER open_incidents_commander_inserted AFTER INSERT ON incident_roles FOR EACH ROW
  WHEN (NEW.role = 'commander') EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');
DROP TRIGGER IF EXISTS open_incidents_commander_updated ON incident_roles;
CREATE TRIGGER open_incidents_commander_updated AFTER UPDATE ON incident_roles FOR EACH ROW
  WHEN ((OLD.role = 'commander' OR NEW.role = 'commander') AND (OLD.incident_id, OLD.role, OLD.user_id)
    IS DISTINCT FROM (NEW.incident_id, NEW.role, NEW.user_id))
  EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');
DROP TRIGGER IF EXISTS open_incidents_commander_deleted ON incident_roles;
CREATE TRIGGER open_incidents_commander_deleted AFTER DELETE ON incident_roles FOR EACH ROW
  WHEN (OLD.role = 'commander') EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');
DROP TRIGGER IF EXISTS open_incidents_commanders_truncated ON incident_roles;
CREATE TRIGGER open_incidents_commanders_truncated AFTER TRUNCATE ON incident_roles
  FOR EACH STATEMENT EXECUTE FUNCTION notify_listed_changed('open_incidents_changed');
