import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { RomanadApiError, RomanadUnreachableError } from '../client/index.ts';
import { applyLabels, parseLabels } from './commands/host.ts';
import { endpointText, ruleText } from './commands/policy.ts';
import { describeError, RefusedInput, UsageError } from './errors.ts';
import { fields, json, loadWideTables, table, tagsText, WideTextNeeded } from './output.ts';
import { wideTable } from './table-wide.ts';

describe('output', () => {
  it('aligns table columns without borders or trailing spaces', () => {
    const text = table(
      ['NAME', 'IP', 'TAGS'],
      [
        ['node-1', '192.168.0.11', 'zone=a'],
        ['n2', '10.0.0.2', null],
      ],
    );
    assert.equal(
      text,
      'NAME     IP             TAGS\nnode-1   192.168.0.11   zone=a\nn2       10.0.0.2\n',
    );
  });

  it('shows control characters escaped, so that a stored name cannot forge a row', () => {
    // A name stored before the name rule (romanad still serves it), holding a fake row.
    const forged = 'pod-a\nevil-pod   10.0.0.99   h1\r\u001b[2K\u0085';
    const text = table(
      ['NAME', 'IP'],
      [
        [forged, '10.0.0.1'],
        ['pod-b', '10.0.0.2'],
      ],
    );
    const cell = 'pod-a\\nevil-pod   10.0.0.99   h1\\r\\u001b[2K\\u0085';
    const pad = (x: string) => x.padEnd(cell.length + 3);
    assert.deepEqual(text.split('\n'), [
      `${pad('NAME')}IP`,
      `${cell}   10.0.0.1`,
      `${pad('pod-b')}10.0.0.2`,
      '',
    ]);
    assert.equal(fields([['Name', forged]]), `Name:   ${cell}\n`);
    assert.equal(tagsText({ 'a\tb': 'c\nd' }), 'a\\tb=c\\nd');
  });

  it('prints the header alone for an empty list', () => {
    assert.equal(table(['CIDR', 'NETWORK'], []), 'CIDR   NETWORK\n');
  });

  it('lays out a table beyond printable ASCII only once cli-table3 is loaded, by display width', async () => {
    const rows = [
      ['nœud-1', '10.0.0.1'],
      ['节点-2', '10.0.0.2'],
    ];
    assert.throws(() => table(['NAME', 'IP'], rows), WideTextNeeded);
    await loadWideTables();
    assert.deepEqual(table(['NAME', 'IP'], rows).split('\n'), [
      'NAME     IP',
      'nœud-1   10.0.0.1',
      '节点-2   10.0.0.2',
      '',
    ]);
  });

  it('lays out printable ASCII exactly as cli-table3 does (any cells, rows as long as the header)', () => {
    const text = fc.string({
      unit: fc.constantFrom('a', 'Z', '0', ' ', '-', '~', '='),
      maxLength: 9,
    });
    const head = fc.array(text, { minLength: 1, maxLength: 5 });
    const rows = fc.array(fc.array(text, { maxLength: 5 }), { maxLength: 6 });
    fc.assert(
      fc.property(head, rows, (h, r) => {
        // Rows as the commands build them: as long as the header.
        const full = r.map((row) => h.map((_, i) => row[i] ?? ''));
        const byCliTable3 = wideTable(h, full)
          .split('\n')
          .map((l) => l.trimEnd())
          .join('\n');
        assert.equal(table(h, full), byCliTable3 + '\n');
      }),
      { numRuns: 300 },
    );
  });

  it('aligns label: value lines', () => {
    assert.equal(
      fields([
        ['Name', 'n'],
        ['Agent port', 9604],
        ['Tags', ''],
      ]),
      'Name:         n\nAgent port:   9604\nTags:\n',
    );
  });

  it('prints JSON indented, keys in the order received', () => {
    assert.equal(json({ b: 1, a: [null] }), '{\n  "b": 1,\n  "a": [\n    null\n  ]\n}\n');
    assert.equal(json(null), 'null\n');
  });

  it('renders tags, endpoints and rules in a few words', () => {
    assert.equal(tagsText({ zone: 'a', rack: 'a1' }), 'zone=a,rack=a1');
    assert.equal(tagsText(null), '');
    assert.equal(endpointText({ tenant_id: 'web', segment_id: 'fe' }), 'web/fe');
    assert.equal(endpointText({ peer: 'any' }), 'peer any');
    assert.equal(endpointText({ cidr: '10.0.0.0/8' }), 'cidr 10.0.0.0/8');
    assert.equal(endpointText({ dest: 'host' }), 'dest host');
    assert.equal(
      ruleText({ protocol: 'tcp', ports: [80], port_ranges: [[8000, 8080]] }),
      'tcp 80,8000-8080',
    );
    assert.equal(ruleText({ protocol: 'icmp', icmp_type: 8 }), 'icmp 8/0');
    assert.equal(ruleText({ protocol: 'any' }), 'any');
  });
});

describe('host label arguments', () => {
  it('sets key=value, removes key-, and keeps the other tags', () => {
    const changes = parseLabels(['rack=a2', 'role-', 'note=a=b']);
    assert.deepEqual(changes, { set: { rack: 'a2', note: 'a=b' }, remove: ['role'] });
    assert.deepEqual(applyLabels({ zone: 'a', rack: 'a1', role: 'web' }, changes), {
      zone: 'a',
      rack: 'a2',
      note: 'a=b',
    });
  });

  it('refuses an argument that is neither', () => {
    assert.throws(() => parseLabels(['zone']), UsageError);
  });
});

describe('describeError', () => {
  it('maps each kind of error to its exit code and one line', () => {
    const api = new RomanadApiError(
      404,
      { status_code: 404, code: 'NotFound', details: 'No host h9' },
      'GET x',
    );
    assert.deepEqual(describeError(api), {
      line: 'romana: No host h9 (HTTP 404 NotFound)',
      code: 1,
    });
    const many = new RomanadApiError(
      422,
      { code: 'InvalidInput', details: 'a: x\nb: y' },
      'POST x',
    );
    assert.equal(describeError(many).line, 'romana: a: x; b: y (HTTP 422 InvalidInput)');
    const down = new RomanadUnreachableError('http://h:1', 'connect ECONNREFUSED');
    assert.deepEqual(describeError(down), {
      line: 'romana: cannot reach romanad at http://h:1: connect ECONNREFUSED',
      code: 3,
    });
    assert.deepEqual(describeError(new UsageError('bad')), { line: 'romana: bad', code: 2 });
    assert.deepEqual(describeError(new RefusedInput('f: invalid', ['p1', 'p2'])), {
      line: 'romana: f: invalid; p1; p2',
      code: 1,
    });
  });

  it('keeps the stack of an unexpected error, which is a bug', () => {
    const d = describeError(new TypeError('oops'));
    assert.match(d.line, /^romana: internal error .*TypeError: oops\n\s+at /);
  });

  it('reads a non-JSON error answer as text', () => {
    const e = new RomanadApiError(502, '<html>Bad gateway</html>', 'GET x');
    assert.deepEqual([e.code, e.details], ['HTTP', '<html>Bad gateway</html>']);
  });
});
