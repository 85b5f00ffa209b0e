/** The Kubernetes naming rules of pod links and namespaces: examples and properties. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  dnsLabelProblem,
  dnsSubdomainProblem,
  labelKeyProblem,
  labelValueProblem,
  portNameProblem,
  uidProblem,
} from './k8s-names.ts';

const ok = (f: (s: string) => string | undefined, s: string) =>
  assert.equal(f(s), undefined, `${JSON.stringify(s)} should pass`);
const bad = (f: (s: string) => string | undefined, s: string) =>
  assert.equal(typeof f(s), 'string', `${JSON.stringify(s)} should be refused`);

/** One DNS label, built character class by character class (an oracle apart from the regex). */
const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
const dnsLabel = fc
  .tuple(
    fc.constantFrom(...LOWER_ALNUM),
    fc.array(fc.constantFrom(...LOWER_ALNUM, '-'), { maxLength: 61 }),
    fc.constantFrom(...LOWER_ALNUM),
  )
  .map(([a, mid, z]) => a + mid.join('') + z)
  .filter((s) => s.length <= 63);

test('namespaces are DNS labels', () => {
  for (const s of ['default', 'kube-system', 'a', '0', 'a-b-1', 'x'.repeat(63)])
    ok(dnsLabelProblem, s);
  for (const s of ['', 'Default', '-a', 'a-', 'a.b', 'a_b', 'x'.repeat(64), 'ä', 'a b'])
    bad(dnsLabelProblem, s);
  fc.assert(fc.property(dnsLabel, (s) => dnsLabelProblem(s) === undefined));
  // Any upper-case letter or character outside [a-z0-9-] is refused.
  fc.assert(
    fc.property(dnsLabel, fc.nat(), fc.constantFrom('A', '_', '.', ' ', '/', 'é'), (s, i, c) => {
      const at = i % (s.length + 1);
      return dnsLabelProblem(s.slice(0, at) + c + s.slice(at)) !== undefined;
    }),
  );
});

test('pod names are DNS subdomains', () => {
  for (const s of [
    'web-0',
    'web-0.shop',
    'a.b.c',
    // 253 characters: the longest.
    ['a', 'b', 'c'].map((c) => c.repeat(63)).join('.') + '.' + 'd'.repeat(61),
  ])
    ok(dnsSubdomainProblem, s);
  for (const s of ['', 'a..b', '.a', 'a.', 'Web', 'a_b', 'a.-b', `${'a'.repeat(250)}.bcd`])
    bad(dnsSubdomainProblem, s);
  fc.assert(
    fc.property(fc.array(dnsLabel, { minLength: 1, maxLength: 5 }), (parts) => {
      const s = parts.join('.');
      return (dnsSubdomainProblem(s) === undefined) === s.length <= 253;
    }),
  );
});

test('label keys and values follow the Kubernetes label rules', () => {
  for (const s of ['app', 'app.kubernetes.io/name', 'k8s.io/x_y', 'A.b-C_d', 'x'.repeat(63)])
    ok(labelKeyProblem, s);
  for (const s of [
    '',
    '/a',
    'a/',
    '-a',
    'a-',
    'Example.com/a',
    'a/b/c',
    'x'.repeat(64),
    'a b',
    'a:b',
  ])
    bad(labelKeyProblem, s);
  for (const s of ['', 'web', 'v1.2_3-x', 'x'.repeat(63)]) ok(labelValueProblem, s);
  for (const s of ['-web', 'web-', 'a b', 'x'.repeat(64), 'a/b', 'ä']) bad(labelValueProblem, s);
  fc.assert(
    fc.property(fc.option(fc.array(dnsLabel, { minLength: 1, maxLength: 3 })), dnsLabel, (p, n) => {
      const key = p === null ? n : `${p.join('.')}/${n}`;
      const prefixOk = p === null || p.join('.').length <= 253;
      return (labelKeyProblem(key) === undefined) === prefixOk;
    }),
  );
});

test('port names are IANA service names; uids are printable ASCII', () => {
  for (const s of ['http', 'dns-udp', 'h2c', 'x'.repeat(15), 'a1']) ok(portNameProblem, s);
  for (const s of ['', '80', 'HTTP', 'a--b', '-a', 'a-', 'x'.repeat(16), 'a_b'])
    bad(portNameProblem, s);
  for (const s of ['6f1d7c1e-3b7a-4c1e-9f5e-2a1b3c4d5e6f', 'u', 'x'.repeat(64)]) ok(uidProblem, s);
  for (const s of ['', 'a b', 'x'.repeat(65), 'ä', 'a\nb']) bad(uidProblem, s);
});
