// Shared launcher for the bin/ entry points: runs the TypeScript sources through tsx,
// so a fresh checkout needs only `npm ci`, no build step.
import { register } from 'tsx/esm/api';

register();

/**
 * Imports `modulePath` (relative to this folder) and runs its `main(argv)`.
 * `main` resolves to the process exit code.
 */
export async function launch(modulePath) {
  const mod = await import(new URL(modulePath, import.meta.url).href);
  const code = await mod.main(process.argv.slice(2));
  if (typeof code === 'number') process.exitCode = code;
}
