/**
 * The bundle's entry (dist/romana-cni.cjs): no top-level await, so it bundles as CommonJS.
 */
import { main } from './main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`romana-cni: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
