-- /incident list shows the open incidents most urgent first, then oldest (src/incidents/incidentStore.ts).
-- Read in this order, it stops at the first 45 however many are open (hundreds, in a storm), rather than
-- sorting them all. "C": the order of P0…P4 in any collation, and one the list can ask for by name.
CREATE INDEX IF NOT EXISTS incidents_open_by_urgency
  ON incidents (severity COLLATE "C", created_at, id) WHERE state = 'open';
