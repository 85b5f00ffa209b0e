/**
 * Bundles that e2e tests run (dist/romana-cni.cjs): rebuilt first when missing or older than a
 * source they may be built from, so that a test never runs yesterday's build. Test processes
 * run in parallel: the check and the rebuild run under a lock (a directory beside the bundle),
 * so that one process rebuilds while the others wait, and none runs a half-written bundle.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

export interface BundleSpec {
  /** The repository root (the build runs there). */
  root: string;
  /** The bundle, e.g. `<root>/dist/romana-cni.cjs`. */
  output: string;
  /** What builds it: `node <buildScript> <name>`. */
  buildScript: string;
  name: string;
  /** Its sources: every `.ts` file under it, less tests (and the build script). */
  srcDir: string;
  /** What to tell a person to run when the rebuild fails. */
  fix: string;
}

/** A lock older than this is left over from a killed process: taken over. */
const STALE_LOCK_MS = 5 * 60_000;
const WAIT_LOCK_MS = 10 * 60_000;

/** The newest of the files the bundle may be built from. */
function newestSource(spec: BundleSpec): { file: string; mtimeMs: number } {
  let newest = { file: spec.buildScript, mtimeMs: statSync(spec.buildScript).mtimeMs };
  for (const entry of readdirSync(spec.srcDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
    const file = path.join(entry.parentPath, entry.name);
    const mtimeMs = statSync(file).mtimeMs;
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  }
  return newest;
}

/** Why the bundle must be built again, or undefined when it is fresh. */
export function staleness(spec: BundleSpec): string | undefined {
  const newest = newestSource(spec);
  const built = existsSync(spec.output) ? statSync(spec.output).mtimeMs : -1;
  if (built < 0) return 'missing';
  if (built < newest.mtimeMs) return `older than ${path.relative(spec.root, newest.file)}`;
  return undefined;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs `f` holding the lock of `output`. */
function locked<T>(output: string, f: () => T): T {
  const lock = `${output}.lock`;
  mkdirSync(path.dirname(output), { recursive: true });
  const end = Date.now() + WAIT_LOCK_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_LOCK_MS) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > end) throw new Error(`${lock} held for ${WAIT_LOCK_MS} ms`);
      else sleepSync(100);
    }
  }
  try {
    return f();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The path of the bundle, rebuilt first when it is missing or older than a source. Throws,
 * naming why it was rebuilt, the build's first lines of error and `fix`, when the rebuild fails.
 *
 * @example spawn(process.execPath, [freshBundle(CNI)], { env });
 */
export function freshBundle(spec: BundleSpec): string {
  if (staleness(spec) === undefined) return spec.output;
  return locked(spec.output, () => {
    const why = staleness(spec); // another process may have rebuilt it meanwhile
    if (why === undefined) return spec.output;
    const r = spawnSync(process.execPath, [spec.buildScript, spec.name], {
      cwd: spec.root,
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      const out = (r.stderr || String(r.error)).trim().split('\n').slice(0, 4).join(' | ');
      throw new Error(
        `${path.relative(spec.root, spec.output)} is ${why} and rebuilding it failed ` +
          `(exit ${r.status}): ${out}; run '${spec.fix}'`,
      );
    }
    return spec.output;
  });
}
