/**
 * Route validators compiled on a route's first request instead of at start-up: fastify compiles
 * every route's schemas (Ajv code generation) before it serves, which was about half of
 * romanad's start time, most of it for routes a given romanad never sees.
 *
 * The first route with a schema keeps fastify's default compiler (so fastify sets that compiler
 * up, with the app's Ajv options); every later one gets a stand-in that compiles with the same
 * compiler when first used and then is that validator: same function, same `errors`, same
 * `schemaEnv` (which fastify reads to let Ajv change the validated value).
 */
import type { FastifySchemaCompiler } from 'fastify';
import type { TypedApp } from './routes/types.ts';

type RouteSchemaDef = Parameters<FastifySchemaCompiler<unknown>>[0];
type Validator = ReturnType<FastifySchemaCompiler<unknown>> & { schemaEnv?: unknown };

/** Defers the compilation of every route schema but the first; call before adding routes. */
export function installLazyValidation(app: TypedApp): void {
  let first = true;
  app.addHook('onRoute', (route) => {
    const s = route.schema;
    const validated =
      s !== undefined &&
      (s.body !== undefined ||
        s.querystring !== undefined ||
        s.params !== undefined ||
        s.headers !== undefined);
    if (!validated || route.validatorCompiler !== undefined) return;
    if (first) {
      first = false; // fastify sets its compiler up for this one
      return;
    }
    route.validatorCompiler = (def) => lazyValidator(def, () => app.validatorCompiler);
  });
}

/** A validator that compiles `def` with the compiler `compiler()` answers when first needed. */
export function lazyValidator(
  def: RouteSchemaDef,
  compiler: () => FastifySchemaCompiler<unknown> | undefined,
): Validator {
  let fn: Validator | undefined;
  const compiled = (): Validator => {
    if (fn !== undefined) return fn;
    const compile = compiler();
    if (compile === undefined) {
      throw new Error(`no validator compiler for ${def.method} ${def.url} (${def.httpPart})`);
    }
    fn = compile(def) as Validator;
    return fn;
  };
  const validate = ((data: unknown, ...rest: unknown[]) =>
    (compiled() as (d: unknown, ...r: unknown[]) => ReturnType<Validator>)(
      data,
      ...rest,
    )) as Validator;
  Object.defineProperties(validate, {
    errors: { get: () => compiled().errors, configurable: true },
    schemaEnv: { get: () => compiled().schemaEnv, configurable: true },
  });
  return validate;
}
