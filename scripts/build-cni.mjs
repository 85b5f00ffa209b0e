// Bundles the CNI plugin into one minified CommonJS file, dist/romana-cni.cjs, executable with a
// shebang, so that the container runtime starts it with no module resolution and no tsx.
import { chmodSync, renameSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const bundle = path.join(root, 'dist/romana-cni.cjs');
// Written beside, then renamed: a plugin started meanwhile (tests rebuild a stale bundle while
// others run it) sees the old file or the new one, never half of one.
const outfile = `${bundle}.${process.pid}.tmp`;

await build({
  entryPoints: [path.join(root, 'src/cni/entry.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  legalComments: 'none',
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
renameSync(outfile, bundle);
