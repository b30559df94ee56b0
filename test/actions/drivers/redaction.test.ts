import { describe, expect, it } from 'vitest';
import { CappedOutput, lastLine } from '../../../src/actions/drivers/driver.js';
import { redactSecrets } from '../../../src/actions/drivers/redaction.js';

const TOKEN = 'dpl_9f8e7d6c5b4a3210';

describe('redactSecrets', () => {
  it('hides the password of any scheme://user:password@, keeping the rest of the URL', () => {
    const text = [
      'connecting to postgres://deploy:hunter2@db.internal:5432/app?sslmode=require',
      'cache redis://:s3cret@cache:6379/0 and https://bot:p%40ss@git.internal/repo.git',
      'psql "postgresql://u:pw@h/db"',
    ].join('\n');
    expect(redactSecrets(text, [])).toBe(
      [
        'connecting to postgres://deploy:[redacted]@db.internal:5432/app?sslmode=require',
        'cache redis://:[redacted]@cache:6379/0 and https://bot:[redacted]@git.internal/repo.git',
        'psql "postgresql://u:[redacted]@h/db"',
      ].join('\n'),
    );
  });

  it('hides user:password@host without a scheme, and password= of a key=value connection string', () => {
    expect(redactSecrets('using deploy:hunter2@db.internal:5432 now', [])).toBe(
      'using deploy:[redacted]@db.internal:5432 now',
    );
    expect(redactSecrets('DSN=admin:Zx81@10.0.0.7/app', [])).toBe('DSN=admin:[redacted]@10.0.0.7/app');
    expect(redactSecrets("host=db user=app password=hunter2 dbname=x PGPASSWORD='a b'", [])).toBe(
      'host=db user=app password=[redacted] dbname=x PGPASSWORD=[redacted]',
    );
  });

  it('leaves what only looks like credentials: times, e-mail addresses, image digests, plain URLs', () => {
    const text = [
      'at 10:30 mail ops@example.com',
      'image: nginx:1.25@sha256:0123abcd',
      'GET https://flags.internal:8443/api/flags/x',
      'http://[::1]:8080/health',
    ].join('\n');
    expect(redactSecrets(text, [])).toBe(text);
  });

  it("hides an authorization header's credentials it was not given, whole or cut short", () => {
    // An exec credential plugin's stderr under sh -x, a proxy's refusal in an API server's answer.
    expect(redactSecrets(`+ curl -H 'Authorization: Bearer sha256~AbC-12_x.y/z='`, [])).toBe(
      "+ curl -H 'Authorization: Bearer [redacted]'",
    );
    expect(redactSecrets('refused Basic aW5jaWRlbnQtYm90OmNv…', [])).toBe('refused Basic [redacted]…');
  });

  it('hides every occurrence of each secret, also URL-encoded or JSON-escaped', () => {
    const secret = 'pa$$ w/"rd"+long';
    const text = `a ${TOKEN} b ${TOKEN}\n${TOKEN}\nq=${encodeURIComponent(secret)} j=${JSON.stringify(secret)} raw=${secret}`;
    expect(redactSecrets(text, [TOKEN, secret])).toBe(
      'a [redacted] b [redacted]\n[redacted]\nq=[redacted] j="[redacted]" raw=[redacted]',
    );
  });

  it('hides the password of a secret connection string wherever it shows alone', () => {
    const url = 'postgres://bot:hunter2-very-secret@db:5432/x';
    expect(redactSecrets('auth failed with hunter2-very-secret', [url])).toBe('auth failed with [redacted]');
    expect(redactSecrets(`dsn ${url}`, [url])).toBe('dsn [redacted]');
  });

  it('leaves values shorter than 8 characters untouched, so 1 or prod never blank text', () => {
    const text = 'deployed 1 replica to prod (production) with flag on';
    expect(redactSecrets(text, ['1', 'prod', 'on', 'flag-on', ''])).toBe(text);
    expect(redactSecrets('flag-on2 flag-on', ['flag-on2'])).toBe('[redacted] flag-on');
  });

  it('hides a longer secret whole even when a shorter one is part of it', () => {
    expect(redactSecrets('x abcdefgh12345678 y abcdefgh', ['abcdefgh', 'abcdefgh12345678'])).toBe(
      'x [redacted] y [redacted]',
    );
  });

  it('hides the halves of a secret or a URL password the output cap cut through', () => {
    const capped = (first: string, last: string) => {
      // 512 bytes of head and 512 of tail are kept: first is cut after its 512th byte, last before its last 512.
      const out = new CappedOutput(1024);
      out.write(first);
      out.write('b'.repeat(2000));
      out.write(last);
      return out.toString();
    };
    const token = capped(`${'a'.repeat(500)} ${TOKEN}`, `${TOKEN} ${'c'.repeat(500)}`);
    expect(token).toContain(`${TOKEN.slice(0, 11)}\n…[truncated`);
    expect(token).toContain(`…\n${TOKEN.slice(9)} c`);
    expect(redactSecrets(token, [TOKEN])).toMatch(
      /^a{500} \[redacted\]\n…\[truncated \d+ bytes\]…\n\[redacted\] c{500}$/,
    );

    const url = capped(
      `${'a'.repeat(490)} postgres://u:long-password-tail@db/x`,
      `sword-tail@db/x ${'c'.repeat(496)}`,
    );
    expect(url).toContain('postgres://u:long-pas\n…[truncated');
    expect(redactSecrets(url, [])).toMatch(
      /^a{490} postgres:\/\/u:\[redacted\]\n…\[truncated \d+ bytes\]…\n\[redacted\]@db\/x c{496}$/,
    );
  });

  it('hides the start of a secret a shortened summary line ends with', () => {
    const summary = lastLine(`${'e'.repeat(180)} token ${TOKEN}`);
    expect(summary.endsWith('…')).toBe(true);
    expect(redactSecrets(summary, [TOKEN])).toBe(`${'e'.repeat(180)} token [redacted]…`);
  });
});
