-- Alertmanager's notifications as they were accepted (src/alerts/deliveries.ts): the webhook stores one
-- here and answers 200, and the deliveries worker ingests them in order, per group, after the answer.
-- A delivery is kept a day once ingested, with what came of it, so that an operator can see why an alert
-- did or did not open an incident.
CREATE TABLE IF NOT EXISTS alert_deliveries (
  id            bigserial PRIMARY KEY,
  received_at   timestamptz NOT NULL DEFAULT now(),
  group_key     text NOT NULL,
  -- The notification as validated (its first alerts in full, the rest counted in truncatedAlerts); kept
  -- once ingested only if it was refused, for whoever looks into why.
  payload       jsonb,
  -- Set when ingested: its DeliveryOutcome, or 'refused' when it could never be ingested.
  processed_at  timestamptz,
  outcome       text,
  incident_id   bigint REFERENCES incidents (id) ON DELETE SET NULL,
  -- Why it was refused, or why its last attempt failed.
  error         text,
  -- Attempts that failed with an error other than an unreachable database, and when it is tried again:
  -- the group's later deliveries wait behind it.
  attempts      integer NOT NULL DEFAULT 0,
  retry_at      timestamptz
);

-- The next delivery of each group, in arrival order.
CREATE INDEX IF NOT EXISTS alert_deliveries_waiting ON alert_deliveries (group_key, id)
  WHERE processed_at IS NULL;
CREATE INDEX IF NOT EXISTS alert_deliveries_waiting_order ON alert_deliveries (id)
  WHERE processed_at IS NULL;
-- Ingested deliveries are forgotten after a day.
CREATE INDEX IF NOT EXISTS alert_deliveries_processed ON alert_deliveries (processed_at)
  WHERE processed_at IS NOT NULL;
