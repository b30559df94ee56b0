-- Every serving process keeps what /incident stats last read for each period (src/incidents/incidentStats.ts),
-- and listens here to forget it as soon as it may be out of date: an incident opened, reopened, deleted,
-- or changed where the stats count or name it (severity, state, title, whether an alert opened it, its
-- opening, creation, acknowledgement or resolution, who acknowledged it); an alert that opened an incident
-- added, changed or taken; either table emptied. However it happened, from whichever process
-- (notify_listed_changed: migration 025). An incident leaving a period as time passes tells nothing: the
-- process keeps the stats only until the first of them would.
DROP TRIGGER IF EXISTS incident_stats_incident_inserted ON incidents;
CREATE TRIGGER incident_stats_incident_inserted AFTER INSERT ON incidents FOR EACH ROW
  EXECUTE FUNCTION notify_listed_changed('incident_stats_changed');
DROP TRIGGER IF EXISTS incident_stats_incident_updated ON incidents;
CREATE TRIGGER incident_stats_incident_updated AFTER UPDATE ON incidents FOR EACH ROW
  WHEN ((OLD.id, OLD.severity, OLD.state, OLD.title, OLD.group_key IS NULL, OLD.opened_at, OLD.created_at,
         OLD.acknowledged_at, OLD.acknowledged_by, OLD.resolved_at)
    IS DISTINCT FROM (NEW.id, NEW.severity, NEW.state, NEW.title, NEW.group_key IS NULL, NEW.opened_at,
         NEW.created_at, NEW.acknowledged_at, NEW.acknowledged_by, NEW.resolved_at))
  EXECUTE FUNCTION notify_listed_changed('incident_stats_changed');
DROP TRIGGER IF EXISTS incident_stats_incident_deleted ON incidents;
CREATE TRIGGER incident_stats_incident_deleted AFTER DELETE ON incidents FOR EACH ROW
  EXECUTE FUNCTION notify_listed_changed('incident_stats_changed');
DROP TRIGGER IF EXISTS incident_stats_incidents_truncated ON incidents;
CREATE TRIGGER incident_stats_incidents_truncated AFTER TRUNCATE ON incidents
  FOR EACH STATEMENT EXECUTE FUNCTION notify_listed_changed('incident_stats_changed');

-- The alerts that opened an incident are those first seen as it was created (incidentStats' top alerts):
-- an ingest's later alerts tell nothing. Whole statements, read as a table; an update of what the stats
-- read of an alert (rare: an ingest changes its status and times) tells, whichever alert it is.
CREATE OR REPLACE FUNCTION notify_opening_alerts_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- The rows inserted, or deleted: each trigger names its transition table so.
  IF EXISTS (SELECT 1 FROM changed_alerts a JOIN incidents i
               ON i.id = a.incident_id AND i.created_at = a.first_seen_at) THEN
    PERFORM pg_notify('incident_stats_changed', '');
  END IF;
  RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS incident_stats_alerts_inserted ON alerts;
CREATE TRIGGER incident_stats_alerts_inserted AFTER INSERT ON alerts REFERENCING NEW TABLE AS changed_alerts
  FOR EACH STATEMENT EXECUTE FUNCTION notify_opening_alerts_changed();
DROP TRIGGER IF EXISTS incident_stats_alerts_deleted ON alerts;
CREATE TRIGGER incident_stats_alerts_deleted AFTER DELETE ON alerts REFERENCING OLD TABLE AS changed_alerts
  FOR EACH STATEMENT EXECUTE FUNCTION notify_opening_alerts_changed();
DROP TRIGGER IF EXISTS incident_stats_alerts_updated ON alerts;
CREATE TRIGGER incident_stats_alerts_updated AFTER UPDATE ON alerts FOR EACH ROW
  WHEN ((OLD.incident_id, OLD.alertname, OLD.first_seen_at)
    IS DISTINCT FROM (NEW.incident_id, NEW.alertname, NEW.first_seen_at))
  EXECUTE FUNCTION notify_listed_changed('incident_stats_changed');
DROP TRIGGER IF EXISTS incident_stats_alerts_truncated ON alerts;
CREATE TRIGGER incident_stats_alerts_truncated AFTER TRUNCATE ON alerts
  FOR EACH STATEMENT EXECUTE FUNCTION notify_listed_changed('incident_stats_changed');
