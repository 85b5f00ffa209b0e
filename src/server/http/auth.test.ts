/** Tokens, roles and the loopback rule: unit tests, then every role against the routes. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import {
  assertError,
  call,
  type FaultyService,
  seededService,
  TOPOLOGY,
} from '../../../test/helpers/service.ts';
import { isRomanaError } from '../../errors.ts';
import { buildApp } from './app.ts';
import {
  allows,
  assertSafeListen,
  isLoopback,
  loadTokenFile,
  parseTokens,
  TokenAuth,
  type TokenEntry,
} from './auth.ts';

const ADMIN = 'admin-token-0123456789abcdef';
const NODE = 'node-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';
const TOKENS: TokenEntry[] = [
  { token: ADMIN, role: 'admin', name: 'ops' },
  { token: NODE, role: 'node', name: 'cni' },
  { token: READ, role: 'read-only' },
];
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('token files', () => {
  test('a YAML list of {token, role, name} parses', () => {
    const t = parseTokens(
      `- {token: ${ADMIN}, role: admin, name: ops}\n- token: ${READ}\n  role: read-only\n`,
      'f',
    );
    assert.deepEqual(t, [
      { token: ADMIN, role: 'admin', name: 'ops' },
      { token: READ, role: 'read-only' },
    ]);
  });

  test('JSON and a {tokens: [...]} wrapper parse too', () => {
    assert.equal(parseTokens(JSON.stringify([{ token: NODE, role: 'node' }]), 'f').length, 1);
    assert.equal(
      parseTokens(JSON.stringify({ tokens: [{ token: NODE, role: 'node' }] }), 'f').length,
      1,
    );
  });

  test('every problem is reported with its entry', () => {
    const text = JSON.stringify([
      { token: 'short', role: 'admin' },
      { token: NODE, role: 'root' },
      { token: NODE, role: 'node', extra: 1 },
    ]);
    assert.throws(
      () => parseTokens(text, 'tokens.json'),
      (e: Error) =>
        isRomanaError(e, 'InvalidInput') &&
        /tokens\.json: \[0\]\.token: must be a string of at least 16/.test(e.message) &&
        /\[1\]\.role: "root" is not one of read-only, node, admin/.test(e.message) &&
        /\[2\]: unknown key 'extra'/.test(e.message) &&
        /\[2\]\.token: the same token appears twice/.test(e.message),
    );
  });

  test('an empty list, a non-list or bad YAML is refused', () => {
    assert.throws(() => parseTokens('[]', 'f'), /non-empty list/);
    assert.throws(() => parseTokens('a: b', 'f'), /non-empty list/);
    assert.throws(() => parseTokens('- [', 'f'), /not valid YAML or JSON/);
  });

  test('loadTokenFile reads a file and names it when unreadable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'romanad-auth-'));
    const path = join(dir, 'tokens.yaml');
    writeFileSync(path, `- {token: ${NODE}, role: node}\n`, { mode: 0o600 });
    assert.deepEqual(loadTokenFile(path), [{ token: NODE, role: 'node' }]);
    assert.throws(
      () => loadTokenFile(join(dir, 'missing.yaml')),
      /--token-file: cannot read '.*missing\.yaml'/,
    );
  });

  test('a token file that group or others may read is refused unless allowed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'romanad-auth-'));
    const path = join(dir, 'tokens.yaml');
    writeFileSync(path, `- {token: ${NODE}, role: node}\n`);
    for (const mode of [0o640, 0o604, 0o644, 0o666]) {
      chmodSync(path, mode);
      const octal = `0${mode.toString(8)}`;
      assert.throws(
        () => loadTokenFile(path),
        (e: Error) =>
          isRomanaError(e, 'InvalidInput') &&
          e.message.includes(`'${path}' has mode ${octal}`) &&
          /chmod 600/.test(e.message) &&
          /--allow-readable-token-file/.test(e.message),
        octal,
      );
      assert.deepEqual(loadTokenFile(path, { allowReadable: true }), [
        { token: NODE, role: 'node' },
      ]);
    }
    for (const mode of [0o600, 0o400, 0o700]) {
      chmodSync(path, mode);
      assert.equal(loadTokenFile(path).length, 1, mode.toString(8));
    }
  });
});

describe('TokenAuth', () => {
  const auth = new TokenAuth(TOKENS);

  test('a known bearer token gives its role and name', () => {
    assert.deepEqual(auth.authenticate(`Bearer ${NODE}`), { role: 'node', name: 'cni' });
    assert.deepEqual(auth.authenticate(`bearer  ${READ} `), {
      role: 'read-only',
      name: 'token #3',
    });
  });

  test('a missing header, another scheme or an unknown token is Unauthorized', () => {
    for (const h of [
      undefined,
      '',
      `Basic ${ADMIN}`,
      `Bearer`,
      `Bearer ${ADMIN}x`,
      `Bearer ${ADMIN.slice(0, -1)}`,
    ]) {
      assert.throws(
        () => auth.authenticate(h),
        (e: Error) => isRomanaError(e, 'Unauthorized'),
        String(h),
      );
    }
  });

  test('roles are ordered read-only < node < admin; public needs nothing', () => {
    assert.ok(allows(undefined, 'public'));
    assert.ok(!allows(undefined, 'read-only'));
    assert.ok(allows('read-only', 'read-only') && !allows('read-only', 'node'));
    assert.ok(allows('node', 'read-only') && allows('node', 'node') && !allows('node', 'admin'));
    assert.ok(allows('admin', 'admin') && allows('admin', 'node'));
  });
});

describe('assertSafeListen', () => {
  test('loopback addresses are fine without tokens', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) {
      assert.doesNotThrow(() => assertSafeListen(h, false), h);
      assert.ok(isLoopback(h), h);
    }
  });

  test('anything else without tokens is refused with the fix in the message', () => {
    for (const h of ['0.0.0.0', '::', '', '10.0.0.1', 'romanad.example.com', '128.0.0.1']) {
      assert.throws(
        () => assertSafeListen(h, false),
        (e: Error) =>
          isRomanaError(e, 'InvalidInput') &&
          /--token-file/.test(e.message) &&
          /--host 127\.0\.0\.1/.test(e.message),
        h,
      );
    }
  });

  test('with tokens any address is allowed', () => {
    assert.doesNotThrow(() => assertSafeListen('0.0.0.0', true));
  });
});

describe('roles over HTTP', () => {
  let service: FaultyService;
  let app: FastifyInstance;
  before(async () => {
    service = await seededService();
    app = buildApp(service, { tokens: TOKENS });
  });
  after(async () => {
    await app.close();
    await service.close();
  });

  test('no token is a 401 with WWW-Authenticate; an unknown token says invalid_token', async () => {
    const a = await call(app, 'GET', '/hosts');
    assertError(a, 401, 'Unauthorized', /Missing bearer token/);
    assert.equal(a.headers['www-authenticate'], 'Bearer realm="romanad"');
    const b = await call(app, 'GET', '/hosts', undefined, bearer('not-a-token-at-all-xx'));
    assertError(b, 401, 'Unauthorized', /Unknown bearer token/);
    assert.equal(b.headers['www-authenticate'], 'Bearer realm="romanad", error="invalid_token"');
  });

  test('/healthz and /readyz need no token; /metrics and unknown paths do', async () => {
    assert.equal((await call(app, 'GET', '/healthz')).status, 200);
    assert.equal((await call(app, 'GET', '/readyz')).status, 200);
    assertError(await call(app, 'GET', '/metrics'), 401, 'Unauthorized');
    assert.equal((await call(app, 'GET', '/metrics', undefined, bearer(READ))).status, 200);
    assertError(await call(app, 'GET', '/no/such'), 401, 'Unauthorized');
    assertError(await call(app, 'GET', '/no/such', undefined, bearer(READ)), 404, 'NotFound');
    assertError(await call(app, 'PUT', '/hosts'), 401, 'Unauthorized');
    assert.equal((await call(app, 'PUT', '/hosts', undefined, bearer(READ))).status, 405);
  });

  // [method, url, body, least role]
  /** A valid policy, so that the roles that read or delete it find it. */
  const policyOf = (id: string) => ({
    id,
    applied_to: [{ tenant_id: 't' }],
    ingress: [{ peers: [{ peer: 'any' }], rules: [{ protocol: 'tcp', ports: [80] }] }],
  });
  const routes: Array<[string, string, unknown, 'read-only' | 'node' | 'admin']> = [
    ['GET', '/networks', undefined, 'read-only'],
    ['GET', '/networks/net1/blocks', undefined, 'read-only'],
    ['GET', '/blocks', undefined, 'read-only'],
    ['GET', '/addresses', undefined, 'read-only'],
    ['GET', '/hosts', undefined, 'read-only'],
    ['GET', '/hosts/h1', undefined, 'read-only'],
    ['GET', '/topology', undefined, 'read-only'],
    ['GET', '/policies', undefined, 'read-only'],
    ['GET', '/blackouts', undefined, 'read-only'],
    ['POST', '/address', { name: 'ROLE', host: 'h1' }, 'node'],
    ['GET', '/address?addressName=ROLE', undefined, 'read-only'],
    ['DELETE', '/address?addressName=ROLE', undefined, 'node'],
    ['POST', '/hosts', { name: 'hROLE', ip: '192.168.1.ROLE' }, 'node'],
    ['PATCH', '/hosts/h1', { tags: { who: 'ROLE' } }, 'node'],
    ['DELETE', '/hosts/hROLE', undefined, 'admin'],
    ['POST', '/topology', TOPOLOGY, 'admin'],
    ['POST', '/policies', policyOf('pROLE'), 'admin'],
    ['GET', '/policies/pROLE', undefined, 'read-only'],
    ['DELETE', '/policies/pROLE', undefined, 'admin'],
    ['POST', '/blackouts', { cidr: '10.0.250.0/24' }, 'admin'],
    ['DELETE', '/blackouts?cidr=10.0.250.0/24', undefined, 'admin'],
    ['DELETE', '/policies', { id: 'nope' }, 'admin'],
  ];
  const tokens = { 'read-only': READ, node: NODE, admin: ADMIN } as const;
  const rank = { 'read-only': 0, node: 1, admin: 2 } as const;
  const ips = { 'read-only': '11', node: '12', admin: '13' } as const;

  for (const role of ['read-only', 'node', 'admin'] as const) {
    test(`role ${role}: allowed routes pass auth, the others are 403`, async (t) => {
      // A fresh app per role so that each role's writes see the state they expect.
      const roleService = await seededService();
      const roleApp = buildApp(roleService, { tokens: TOKENS });
      t.after(async () => {
        await roleApp.close();
        await roleService.close();
      });
      if (role !== 'admin') {
        // Objects the lower roles read or delete must exist.
        const setup = [
          await call(roleApp, 'POST', '/address', { name: role, host: 'h1' }, bearer(ADMIN)),
          await call(roleApp, 'POST', '/policies', policyOf(`p${role}`), bearer(ADMIN)),
          await call(
            roleApp,
            'POST',
            '/hosts',
            { name: `h${role}`, ip: `192.168.1.${ips[role]}` },
            bearer(ADMIN),
          ),
        ];
        for (const a of setup) assert.equal(a.status, 200, a.text);
      }
      for (const [method, url0, body0, least] of routes) {
        const url = url0.replace('ROLE', role);
        const body =
          body0 === undefined
            ? undefined
            : JSON.parse(
                JSON.stringify(body0)
                  .replace('192.168.1.ROLE', `192.168.1.${ips[role]}`)
                  .replace(/ROLE/g, role),
              );
        const a = await call(roleApp, method as 'GET', url, body, bearer(tokens[role]));
        if (rank[role] >= rank[least]) {
          assert.notEqual(a.status, 401, `${role} ${method} ${url}: ${a.text}`);
          assert.notEqual(a.status, 403, `${role} ${method} ${url}: ${a.text}`);
          assert.ok(a.status < 500, `${role} ${method} ${url}: ${a.text}`);
        } else {
          assertError(a, 403, 'Forbidden', new RegExp(`role '${role}'.*needs '${least}'`));
        }
      }
    });
  }

  test('the watch stream needs a token; read-only may open it', async () => {
    assertError(await call(app, 'GET', '/watch'), 401, 'Unauthorized');
    // A bad query proves the request got past auth without holding a stream open.
    assertError(
      await call(app, 'GET', '/watch?kinds=bogus', undefined, bearer(READ)),
      400,
      'InvalidInput',
    );
  });
});
