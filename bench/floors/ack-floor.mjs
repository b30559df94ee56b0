// The ack floor (issue 18): the bare Bolt App of bolt-floor.mjs, whose command and action listeners only
// ack. Bolt asks auth.test once, as it starts, as it does in the bot: with tokenVerificationEnabled: false,
// Bolt 5.1 asks it again before every request's listeners (see singleAuthorization), a Slack round trip the
// bot does not make. With DATABASE_URL, each listener first commits one INSERT of what it was sent (a pool
// of 10): the floor of a listener that has written what it answers, as the bot's commands and forms that
// change something.
import pg from 'pg';
import { app, listen } from './bolt-floor.mjs';

const pool = process.env.DATABASE_URL
  ? new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 })
  : undefined;
await pool?.query('CREATE TABLE IF NOT EXISTS floor_acks (id bigserial PRIMARY KEY, body jsonb)');
const listener = async ({ ack, body }) => {
  await pool?.query('INSERT INTO floor_acks (body) VALUES ($1)', [body]);
  await ack();
};
app.command(/.*/, listener);
app.action(/.*/, listener);
app.view(/.*/, listener);
await listen();
