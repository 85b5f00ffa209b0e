// `npm run mutation -- SCOPE [stryker options…]`: mutation testing of one scope (see
// mutation.scopes.mjs and docs/testing.md). Runs Stryker from node_modules, or from
// $STRYKER_BIN when set. Extra options go to `stryker run`, e.g. `--mutate src/agent/route-plan.ts`
// to narrow a scope or `--concurrency 2`.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { scopes } from '../mutation.scopes.mjs';

const root = path.resolve(import.meta.dirname, '..');
const [scope, ...rest] = process.argv.slice(2);
if (scope === undefined || !(scope in scopes)) {
  const list = Object.entries(scopes)
    .map(([k, v]) => `  ${k.padEnd(7)} ${v.what}`)
    .join('\n');
  process.stderr.write(`usage: npm run mutation -- SCOPE [stryker options]\nscopes:\n${list}\n`);
  process.exit(2);
}
const bin = process.env.STRYKER_BIN ?? path.join(root, 'node_modules/.bin/stryker');
const r = spawnSync(bin, ['run', 'stryker.config.mjs', ...rest], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, MUTATION_SCOPE: scope },
});
if (r.error) {
  process.stderr.write(`cannot run ${bin}: ${r.error.message} (npm ci installs Stryker)\n`);
}
process.exitCode = r.status ?? 1;
