-- Every serving process keeps what /action list last read of the action requests waiting or running
-- (src/approvals/requests.ts: listWaitingOrRunning), and listens here to forget it as soon as it may be
-- out of date: a request made, moved among or out of the waiting and running ones, or deleted; the table
-- emptied. However it happened, from whichever process (notify_listed_changed: migration 025).
DROP TRIGGER IF EXISTS requests_listed_inserted ON action_requests;
CREATE TRIGGER requests_listed_inserted AFTER INSERT ON action_requests FOR EACH ROW
  WHEN (NEW.status IN ('pending', 'approved', 'running'))
  EXECUTE FUNCTION notify_listed_changed('requests_listed_changed');
DROP TRIGGER IF EXISTS requests_listed_updated ON action_requests;
CREATE TRIGGER requests_listed_updated AFTER UPDATE ON action_requests FOR EACH ROW
  WHEN ((OLD.status IN ('pending', 'approved', 'running') OR NEW.status IN ('pending', 'approved', 'running'))
    AND (OLD.id, OLD.action, OLD.service, OLD.status, OLD.requested_by)
      IS DISTINCT FROM (NEW.id, NEW.action, NEW.service, NEW.status, NEW.requested_by))
  EXECUTE FUNCTION notify_listed_changed('requests_listed_changed');
DROP TRIGGER IF EXISTS requests_listed_deleted ON action_requests;
CREATE TRIGGER requests_listed_deleted AFTER DELETE ON action_requests FOR EACH ROW
  WHEN (OLD.status IN ('pending', 'approved', 'running'))
  EXECUTE FUNCTION notify_listed_changed('requests_listed_changed');
DROP TRIGGER IF EXISTS requests_listed_truncated ON action_requests;
CREATE TRIGGER requests_listed_truncated AFTER TRUNCATE ON action_requests
  FOR EACH STATEMENT EXECUTE FUNCTION notify_listed_changed('requests_listed_changed');
