#!/usr/bin/env node
// The CNI plugin. Runs the bundle (dist/romana-cni.cjs, made by `npm run build:cni`), which is
// what a node should install; from a checkout without the bundle, the sources through tsx.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/romana-cni.cjs', import.meta.url));
if (existsSync(bundle)) {
  createRequire(import.meta.url)(bundle);
} else {
  const { launch } = await import('./launch.js');
  await launch('../src/cni/main.ts');
}
