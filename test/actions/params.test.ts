import { describe, expect, it } from 'vitest';
import { type ParamSpec, parseParamArgs, validateParams } from '../../src/actions/params.js';

const SPECS: Record<string, ParamSpec> = { replicas: { type: 'integer', min: 1 } };

describe('parseParamArgs', () => {
  it('reads name=value words, unquoting a quoted value', () => {
    expect(parseParamArgs(['replicas=6', 'reason="db hot"'])).toEqual({
      values: { replicas: '6', reason: 'db hot' },
    });
  });

  it('refuses a name given twice', () => {
    expect(parseParamArgs(['replicas=1', 'replicas=2'])).toEqual({ error: 'replicas is given twice' });
  });
});

describe('param names are data, never keys into Object.prototype', () => {
  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])(
    '%s=1 is an unknown parameter, not a second one',
    (name) => {
      const parsed = parseParamArgs([`${name}=1`, 'replicas=2']);
      expect(parsed).not.toHaveProperty('error');
      const { values } = parsed as { values: Record<string, string> };
      expect(Object.keys(values)).toEqual([name, 'replicas']);
      expect(validateParams(SPECS, values, [])).toEqual({
        ok: false,
        problems: [`unknown parameter ${name} (expected replicas)`],
      });
    },
  );

  it('pollutes no prototype', () => {
    const parsed = parseParamArgs(['__proto__=1', 'polluted=yes']) as { values: Record<string, string> };
    expect(Object.getPrototypeOf(parsed.values)).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('checks params the catalog names after Object.prototype members like any other', () => {
    // Built as a parsed config has it: a null-prototype record, where __proto__ is an ordinary name.
    const [ctor, proto]: string[] = ['constructor', '__proto__'];
    const catalog: Record<string, ParamSpec> = Object.create(null);
    catalog[ctor!] = { type: 'integer' };
    catalog[proto!] = { type: 'string', maxLength: 10, default: 'none' };
    const raw = (parseParamArgs([]) as { values: Record<string, string> }).values;
    expect(validateParams(catalog, raw, [])).toEqual({ ok: false, problems: ['constructor is required'] });
    raw[ctor!] = '3';
    const checked = validateParams(catalog, raw, []);
    expect(checked.ok && Object.entries(checked.params)).toEqual([
      ['constructor', 3],
      ['__proto__', 'none'],
    ]);
  });
});

describe('a value that would reach a command as an option', () => {
  const specs: Record<string, ParamSpec> = {
    target: { type: 'string', maxLength: 200 },
    flag: { type: 'string', maxLength: 200, enum: ['--all', 'one'] },
    ref: { type: 'string', maxLength: 200, pattern: '-?[a-z]+' },
    count: { type: 'integer' },
    offset: { type: 'integer', min: -5 },
  };
  const fine = { flag: '--all', ref: '-main', offset: '-3' };

  it('is refused where it begins an argv element, unless the catalog chose it (enum, pattern, min)', () => {
    const checked = validateParams(specs, { ...fine, target: '--kubeconfig=/tmp/x', count: '-1' }, [
      'target',
      'flag',
      'ref',
      'count',
      'offset',
    ]);
    expect(checked).toEqual({
      ok: false,
      problems: [
        'target may not start with "-": the command would take it for an option',
        'count may not start with "-": the command would take it for an option',
      ],
    });
  });

  it('is data where it does not begin an argv element', () => {
    const checked = validateParams(specs, { ...fine, target: '--kubeconfig=/tmp/x', count: '-1' }, ['flag']);
    expect(checked).toMatchObject({ ok: true, params: { target: '--kubeconfig=/tmp/x', count: -1 } });
  });
});
