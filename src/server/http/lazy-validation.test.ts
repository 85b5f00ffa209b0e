/** Route validators compiled on first use: the same answers as compiled at start-up. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { call, seededService, type FaultyService } from '../../../test/helpers/service.ts';
import { buildApp } from './app.ts';
import { lazyValidator } from './lazy-validation.ts';

type Def = Parameters<FastifySchemaCompiler<unknown>>[0];

describe('lazyValidator', () => {
  test('compiles once, when first used, and is then the compiled validator', () => {
    const compiled: Def[] = [];
    const calls: unknown[][] = [];
    const env = { marker: 'env' };
    const compiler: FastifySchemaCompiler<unknown> = (def) => {
      compiled.push(def);
      const fn = Object.assign(
        (...args: unknown[]) => {
          calls.push(args);
          fn.errors =
            args[0] === 'bad'
              ? [{ keyword: 'k', instancePath: '', schemaPath: '', params: {} }]
              : null;
          return args[0] !== 'bad';
        },
        { errors: null as unknown, schemaEnv: env },
      );
      return fn as ReturnType<FastifySchemaCompiler<unknown>>;
    };
    const def: Def = { schema: { type: 'string' }, method: 'POST', url: '/x', httpPart: 'body' };
    let asked = 0;
    const v = lazyValidator(def, () => {
      asked++;
      return compiler;
    });
    assert.deepEqual(compiled, [], 'nothing compiled before use');
    assert.equal((v as { schemaEnv?: unknown }).schemaEnv, env, 'schemaEnv of the compiled one');
    const withContext = v as unknown as (data: unknown, ctx?: unknown) => boolean;
    assert.equal(withContext('good', { parentData: 1 }), true);
    assert.equal(v.errors, null);
    assert.equal(v('bad'), false);
    const errors = v.errors as Array<{ keyword: string }> | null | undefined;
    assert.equal(errors?.[0]?.keyword, 'k', 'errors of the compiled one');
    assert.deepEqual(compiled, [def], 'compiled once');
    assert.equal(asked, 1);
    assert.deepEqual(calls, [['good', { parentData: 1 }], ['bad']], 'arguments passed on');
  });

  test('without a compiler it says which route lacks one', () => {
    const v = lazyValidator(
      { schema: {}, method: 'GET', url: '/y', httpPart: 'querystring' },
      () => undefined,
    );
    assert.throws(() => v({}), /GET \/y \(querystring\)/);
  });
});

describe('an app with lazily compiled validators', () => {
  let service: FaultyService;
  let app: FastifyInstance;
  before(async () => {
    service = await seededService();
    app = buildApp(service);
    await app.ready();
  });
  after(async () => {
    await app.close();
    await service.close();
  });

  test('refuses bad bodies, queries and parameters as before, naming the field', async () => {
    // Each route twice: the first request compiles, the second uses what was compiled.
    for (let i = 0; i < 2; i++) {
      const body = await call(app, 'POST', '/address', { name: 'a', host: 'h1', extra: 1 });
      assert.equal(body.status, 400, body.text);
      assert.match(body.text, /extra/);
      const type = await call(app, 'POST', '/address', { name: 5, host: 'h1' });
      assert.equal(type.status, 400, type.text);
      assert.match(type.text, /name/);
      const query = await call(app, 'GET', '/address');
      assert.equal(query.status, 400, query.text);
      assert.match(query.text, /addressName/);
      const ok = await call(app, 'POST', '/address', { name: `ok-${i}`, host: 'h1' });
      assert.equal(ok.status, 200, ok.text);
      const got = await call(app, 'GET', `/address?addressName=ok-${i}`);
      assert.equal(got.status, 200, got.text);
    }
  });
});
