import { LogLevel } from '@slack/logger';
import { describe, expect, it } from 'vitest';
import { boltLogger, createLogger, redactUrlPasswords } from '../../src/observability/logger.js';

const BOT_TOKEN = 'xoxb-1111-2222-s3cr3tbottoken';
const SIGNING_SECRET = 'f00dfacecafebeef0123456789abcdef';
const AM_TOKEN = 'am-token-s3cr3t-0123456789';
const SECRETS = [BOT_TOKEN, SIGNING_SECRET, AM_TOKEN];

/** A logger writing into an array, so each test can read exactly what would reach stdout. */
function capture(level = 'debug', secrets: string[] = SECRETS) {
  const lines: string[] = [];
  const logger = createLogger(level, secrets, { write: (line: string) => void lines.push(line) });
  return {
    logger,
    lines,
    text: () => lines.join(''),
    records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes one JSON line per record at or above its level', () => {
    const out = capture('warn');
    out.logger.info('hidden');
    out.logger.warn({ incidentId: 7 }, 'shown');
    expect(out.records()).toHaveLength(1);
    expect(out.records()[0]).toMatchObject({ level: 40, incidentId: 7, msg: 'shown' });
  });

  describe('known secrets', () => {
    it('never appear in the escaped form JSON gives a secret holding quotes or backslashes', () => {
      const password = 'pa"ss\\word-0123';
      const out = capture('debug', [password]);
      out.logger.info({ dsn: `postgres://bot:${password}@db/x?x=1`, note: `was ${password}` }, 'escaped');
      expect(out.text()).not.toContain(JSON.stringify(password).slice(1, -1));
      expect(out.records()[0]?.note).toBe('was [REDACTED]');
    });

    it('never show in part: one that holds another is hidden whole, whichever is listed first', () => {
      const short = 'sh0rt-secret';
      const long = `${short}-and-the-rest-of-it`;
      for (const secrets of [
        [short, long],
        [long, short],
      ]) {
        const out = capture('debug', secrets);
        out.logger.info(`with ${long}`);
        expect(out.records()[0]?.msg).toBe('with [REDACTED]');
      }
    });

    it('never appear, wherever they are written', () => {
      const out = capture();
      out.logger.info(`posting with ${BOT_TOKEN}`);
      out.logger.info(
        { note: `signed with ${SIGNING_SECRET}`, deep: { deeper: { value: AM_TOKEN } } },
        'fields',
      );
      out.logger.error(
        { err: new Error(`Slack refused ${BOT_TOKEN}`) },
        'error with the token in its message',
      );
      out.logger.child({ binding: AM_TOKEN }).warn('child binding');
      out.logger.info({ list: [BOT_TOKEN, SIGNING_SECRET] }, 'array');
      const text = out.text();
      for (const secret of SECRETS) expect(text).not.toContain(secret);
      expect(out.records()[0]!.msg).toBe('posting with [REDACTED]');
      expect(out.records()[1]).toMatchObject({
        note: 'signed with [REDACTED]',
        deep: { deeper: { value: '[REDACTED]' } },
      });
    });

    it('are scrubbed every time they occur in a line', () => {
      const out = capture();
      out.logger.info(`${AM_TOKEN}/${AM_TOKEN}/${AM_TOKEN}`);
      expect(out.records()[0]!.msg).toBe('[REDACTED]/[REDACTED]/[REDACTED]');
    });

    it('ignore values under 8 characters, which would scrub ordinary words', () => {
      const out = capture('info', ['info', 'a']);
      out.logger.info('info a');
      expect(out.records()[0]).toMatchObject({ level: 30, msg: 'info a' });
    });
  });

  describe('fields that hold credentials', () => {
    it('redact authorization at the top level, one level down and in request headers', () => {
      const out = capture();
      out.logger.info({ authorization: 'Bearer top-level-credential' }, 'a');
      out.logger.info({ headers: { authorization: 'Bearer header-credential' } }, 'b');
      out.logger.info({ req: { headers: { authorization: 'Bearer request-credential' } } }, 'c');
      out.logger.info({ upstream: { authorization: 'Basic dXNlcjpwYXNz' } }, 'd');
      const text = out.text();
      for (const value of [
        'top-level-credential',
        'header-credential',
        'request-credential',
        'dXNlcjpwYXNz',
      ]) {
        expect(text).not.toContain(value);
      }
      expect(out.records().map((r) => r.msg)).toEqual(['a', 'b', 'c', 'd']);
      expect(out.records()[2]).toMatchObject({ req: { headers: { authorization: '[REDACTED]' } } });
    });

    it("hide the bot's own secret whole behind a header's scheme, whatever characters it holds", () => {
      const out = capture('debug', ['tok!en-long-secret']);
      out.logger.info('sent Bearer tok!en-long-secret');
      expect(out.records()[0]!.msg).toBe('sent Bearer [REDACTED]');
    });

    it('hide a header after an escaped line break, through a secret hidden inside it, and of millions of characters', () => {
      const out = capture('debug', ['tok!en-long-secret']);
      out.logger.info('request failed\nBearer abcdefghijkl');
      out.logger.info('sent Bearer abc.tok!en-long-secret.TAILSIG9');
      out.logger.info(`sent Bearer ${'A'.repeat(9_000_000)}`);
      out.logger.info(`sent Bearer${' '.repeat(9_000_000)}abcdefgh`);
      // A tab, a form feed or a vertical tab, escaped in the line; a scheme ending a token.
      out.logger.info('auth Bearer\tabcdefgh');
      out.logger.info('\fBearer abcdefgh \u000bBasic abcdefgh');
      out.logger.info('sent Bearer abc/Basic  abcdefgh ghi');
      expect(out.records().map((r) => r.msg)).toEqual([
        'request failed\nBearer [REDACTED]',
        'sent Bearer [REDACTED]',
        'sent Bearer [REDACTED]',
        'sent Bearer [REDACTED]',
        'auth Bearer [REDACTED]',
        '\fBearer [REDACTED] \u000bBasic [REDACTED]',
        'sent Bearer [REDACTED]  [REDACTED] ghi',
      ]);
    });

    it('hide a header quoted in an error, and keep the line JSON', () => {
      const out = capture();
      // undici's words for a header it will not send.
      out.logger.error({
        err: new TypeError('Headers.append: "Bearer am-tok-123" is an invalid header value.'),
      });
      out.logger.warn('refused "Basic dXNlcjpw\\/YXNz"\nnext line');
      expect(out.text()).not.toContain('am-tok-123');
      expect(out.text()).not.toContain('dXNlcjpw');
      expect(out.records()[0]).toMatchObject({
        err: { message: 'Headers.append: "Bearer [REDACTED]" is an invalid header value.' },
      });
      expect(out.records()[1]!.msg).toBe('refused "Basic [REDACTED]"\nnext line');
    });

    it('redact Slack signatures, tokens and signing secrets by field name', () => {
      const out = capture();
      out.logger.info({
        req: { headers: { 'x-slack-signature': 'v0=abcdef0123456789' } },
        token: 'tok-top-level-1',
        client: { token: 'tok-nested-2', signingSecret: 'nested-signing-3' },
        signingSecret: 'top-signing-4',
      });
      const text = out.text();
      for (const value of [
        'v0=abcdef0123456789',
        'tok-top-level-1',
        'tok-nested-2',
        'nested-signing-3',
        'top-signing-4',
      ]) {
        expect(text).not.toContain(value);
      }
    });

    it('redact the secrets of a logged env object', () => {
      const out = capture('info', []);
      out.logger.info({
        env: {
          SLACK_BOT_TOKEN: 'xoxb-env-token-value',
          SLACK_SIGNING_SECRET: 'env-signing-secret',
          SLACK_APP_TOKEN: 'xapp-env-app-token',
          ALERTMANAGER_TOKEN: 'env-alertmanager-token',
          DATABASE_URL: 'postgres://bot@db.internal/incident_bot',
          REDIS_URL: 'redis://cache.internal:6379',
          PORT: 3000,
        },
      });
      expect(out.records()[0]!.env).toEqual({
        SLACK_BOT_TOKEN: '[REDACTED]',
        SLACK_SIGNING_SECRET: '[REDACTED]',
        SLACK_APP_TOKEN: '[REDACTED]',
        ALERTMANAGER_TOKEN: '[REDACTED]',
        // URLs stay readable for debugging; a password in one would be scrubbed (see redactUrlPasswords).
        DATABASE_URL: 'postgres://bot@db.internal/incident_bot',
        REDIS_URL: 'redis://cache.internal:6379',
        PORT: 3000,
      });
    });

    it('redact credentials by name, whatever the letter case and separators', () => {
      const out = capture('info', []);
      const fields = {
        apiKey: 'v-apiKey',
        api_key: 'v-api_key',
        'X-API-KEY': 'v-x-api-key',
        headers: { 'x-api-key': 'v-header', 'x-goog-api-key': 'v-goog', 'set-cookie': 'v-cookie' },
        credentials: 'v-credentials',
        privateKey: 'v-privateKey',
        private_key: 'v-private_key',
        accessKey: 'v-accessKey',
        AWS_SECRET_ACCESS_KEY: 'v-aws',
        routing_key: 'v-routing',
        hmacKey: 'v-hmac',
        // Node's TLS options call the private key itself `key`.
        tls: { cert: 'a certificate', key: 'v-tls-key' },
        PGPASSWORD: 'v-pgpassword',
        passphrase: 'v-passphrase',
        auth: 'v-auth',
        proxyAuth: 'v-proxyAuth',
        'api.key': 'v-dotted',
      };
      out.logger.info(fields, 'credentials');
      const text = out.text();
      expect(text.match(/v-[\w.-]+/g)).toBeNull();
      expect(out.records()[0]).toMatchObject({ tls: { cert: 'a certificate', key: '[REDACTED]' } });
    });

    it('redact a credential-named object or list whole, and keep null (none set)', () => {
      const out = capture('info', []);
      out.logger.info({
        credentials: { username: 'svc-user', region: 'eu', nested: { id: 'v-in-object' } },
        apiKeys: ['v-first', 'v-second'],
        password: null,
      });
      expect(out.records()[0]).toEqual(
        expect.objectContaining({ credentials: '[REDACTED]', apiKeys: '[REDACTED]', password: null }),
      );
      expect(out.text()).not.toContain('svc-user');
    });

    it('keep the keys that name things, which an operator looks a line up by', () => {
      const out = capture('info', []);
      const ids = {
        dedupKey: 'incident-bot:INC-7:oncall:3f9a',
        dedup_key: 'incident-bot:INC-7:oncall:3f9a',
        idempotencyKey: 'incident-bot:INC-7:oncall:3f9a:0:trigger',
        headers: { 'Idempotency-Key': 'incident-bot:INC-7:oncall:3f9a:0:trigger' },
        requestKey: 'T1:U1:1700000000.000100',
        request_key: 'T1:U1:1700000000.000100',
        groupKey: '{}:{alertname="HighLatency"}',
        group_key: '{}:{alertname="HighLatency"}',
        keyId: 'kid-2026',
        tokenCount: 3,
        passwordSet: true,
      };
      out.logger.info(ids, 'ids');
      expect(out.records()[0]).toMatchObject(ids);
    });

    it('are not fooled by a message that looks like fields', () => {
      const out = capture('info', []);
      out.logger.info({ note: 'a","apiKey":"x' }, '"password":"shown as text"');
      expect(out.records()[0]).toMatchObject({ note: 'a","apiKey":"x', msg: '"password":"shown as text"' });
    });

    // Regression test for a bug found in review.
    it('redact authorization however deeply it is nested', () => {
      const out = capture();
      out.logger.error({ err: { config: { headers: { authorization: 'Bearer some-other-credential' } } } });
      expect(out.text()).not.toContain('some-other-credential');
    });
  });

  describe('passwords in URLs', () => {
    it('never appear, in messages, fields or errors', () => {
      const out = capture('info', []);
      out.logger.info('connecting to postgres://bot:pg-pass-1@db.internal:5432/incident_bot');
      out.logger.info({
        redis: 'redis://:redis-pass-2@cache.internal:6379',
        tls: 'rediss://default:redis-pass-3@cache',
      });
      out.logger.error(
        { err: new Error('connect ECONNREFUSED postgresql://bot:pg-pass-4@10.0.0.5/incident_bot') },
        'database unreachable',
      );
      const text = out.text();
      for (const password of ['pg-pass-1', 'redis-pass-2', 'redis-pass-3', 'pg-pass-4']) {
        expect(text).not.toContain(password);
      }
      expect(out.records()[0]!.msg).toBe(
        'connecting to postgres://bot:[REDACTED]@db.internal:5432/incident_bot',
      );
      expect(out.records()[1]).toMatchObject({
        redis: 'redis://:[REDACTED]@cache.internal:6379',
        tls: 'rediss://default:[REDACTED]@cache',
      });
    });
  });
});

describe('scrubbing hostile text', () => {
  // Anyone may send a request line of 16 KiB, and its path is logged: scrubbing it must cost time in
  // proportion to its length. Runs of key-like or scheme-like text once took time in its square: 0.3 s
  // of the event loop per 16 KiB request, about 5 s per 64 KiB line and over a minute per 256 KiB here;
  // in proportion, a few ms. The bound sits far from both, so that a loaded machine cannot decide it.
  it.each([
    ['a field name', `/"${'token'.repeat(52_000)}`],
    ['a URL scheme', `/${'a.'.repeat(128_000)}`],
  ])('takes time in proportion to the line, for text that looks like %s', (_, path) => {
    const out = capture('info', []);
    const started = performance.now();
    out.logger.info({ method: 'GET', path, status: 404 }, 'request');
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(out.records()[0]?.path).toBe(path);
  });

  it('takes time in proportion to a list holding a run of quotes', () => {
    const out = capture('info', []);
    const labels = ['"'.repeat(128 * 1024)];
    const started = performance.now();
    out.logger.info({ labels }, 'alert');
    // Before: about 2 s a 32 KiB run, in its square.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(out.records()[0]?.labels).toEqual(labels);
  });

  it('redacts a field pino writes twice, a child binding and the call both naming it, and keeps every field', () => {
    const out = capture('info', []);
    out.logger
      .child({ token: 'xoxp-bound-to-the-child', incidentId: 7 })
      .info({ token: null, incidentId: 8 }, 'x');
    // Before: read as JSON, the line kept only the second token (null), and went out with the first in clear.
    expect(out.text()).not.toContain('xoxp-bound-to-the-child');
    expect(out.text()).toContain('"incidentId":7');
    expect(out.text()).toContain('"incidentId":8');
  });

  it('writes a line holding a string of millions of characters, redacted where it is a credential', () => {
    const out = capture('info', []);
    const body = `a\\"${'a'.repeat(9_000_000)}`;
    // Before: a pattern's stack ran out on it, and the logger threw.
    out.logger.info({ body, password: 'p'.repeat(9_000_000) }, 'big');
    expect(out.records()[0]).toMatchObject({ body, password: '[REDACTED]' });
  });

  it('scrubs a line nested thousands deep as any other, keeping it', () => {
    const out = capture('info', []);
    let nested: unknown = { password: 'pw-deep-down' };
    for (let i = 0; i < 3_800; i++) nested = { n: nested };
    out.logger.info({ nested }, 'deep');
    // Before: past the stack, the line was replaced by one saying it was left out.
    expect(out.text()).not.toContain('pw-deep-down');
    expect(out.records()[0]).toMatchObject({ msg: 'deep', level: 30 });
  });

  it.each([
    ['a list holding ":"', { args: ['note', ':'] }],
    ['a list holding an IPv6 address', { addresses: ['127.0.0.1', '::1'] }],
    ['a list of objects', { items: [{ a: '":' }, { b: 1 }] }],
  ])('redacts a credential logged after %s', (_, before) => {
    const out = capture('info', []);
    out.logger.info({ ...before, password: 'pw-must-not-show' }, 'command');
    // Before: the scan lost its place in the list, and the password was written in clear.
    expect(out.text()).not.toContain('pw-must-not-show');
    expect(out.records()[0]).toMatchObject({ ...before, password: '[REDACTED]' });
  });
});

describe('redactUrlPasswords', () => {
  it.each([
    ['postgres://bot:secret@db:5432/x', 'postgres://bot:[REDACTED]@db:5432/x'],
    ['postgresql://bot:s3cr%40t@db/x', 'postgresql://bot:[REDACTED]@db/x'],
    ['redis://:secret@127.0.0.1:6379', 'redis://:[REDACTED]@127.0.0.1:6379'],
    ['REDIS://user:secret@host', 'REDIS://user:[REDACTED]@host'],
    ['a=postgres://u:p1@h1 b=redis://:p2@h2', 'a=postgres://u:[REDACTED]@h1 b=redis://:[REDACTED]@h2'],
  ])('hides the password in %s', (text, expected) => {
    expect(redactUrlPasswords(text)).toBe(expected);
  });

  it.each([
    'postgres://bot@db:5432/incident_bot',
    'redis://127.0.0.1:6379',
    'https://slack.com/api/chat.postMessage',
    'http://host:8080/path?q=a:b',
    'mailto:oncall@example.com',
    'time 12:30 and user@example.com',
  ])('leaves %s unchanged', (text) => {
    expect(redactUrlPasswords(text)).toBe(text);
  });
});

describe('boltLogger', () => {
  it('forwards Bolt messages to pino, tagged as bolt, with secrets scrubbed', () => {
    const out = capture();
    const bolt = boltLogger(out.logger);
    bolt.debug('socket', { attempt: 1 });
    bolt.info('ready');
    bolt.warn('token', BOT_TOKEN);
    bolt.error('failed', { token: BOT_TOKEN });
    expect(out.records().map((r) => [r.level, r.component, r.msg])).toEqual([
      [20, 'bolt', 'socket {"attempt":1}'],
      [30, 'bolt', 'ready'],
      [40, 'bolt', 'token [REDACTED]'],
      [50, 'bolt', 'failed {"token":"[REDACTED]"}'],
    ]);
  });

  it('writes an error Bolt logs with its message and stack, and those of the error it wraps', () => {
    const out = capture();
    const cause = new Error(`listener failed with ${BOT_TOKEN}`);
    // As Bolt's default error handler logs a listener's error: an UnknownError with it as `original`.
    const wrapped = Object.assign(new Error(cause.message), {
      code: 'slack_bolt_unknown_error',
      original: cause,
    });
    boltLogger(out.logger).error(wrapped, new Error('and another'));
    const [record] = out.records() as Array<{
      msg: string;
      err: { original: { message: string; stack: string } };
    }>;
    expect(record!.msg).toBe('Error: and another');
    expect(record!.err.original.message).toBe('listener failed with [REDACTED]');
    expect(record!.err.original.stack).toContain('logger.test.ts');
  });

  it('remembers the level Bolt sets', () => {
    const bolt = boltLogger(capture().logger);
    expect(bolt.getLevel()).toBe(LogLevel.INFO);
    bolt.setLevel(LogLevel.DEBUG);
    expect(bolt.getLevel()).toBe(LogLevel.DEBUG);
  });
});
