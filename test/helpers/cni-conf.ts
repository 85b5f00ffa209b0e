/**
 * Plugin configurations and a failing wiring step for CNI command tests (light: no server code, so a test file's outer
 * run, which only re-runs itself in a namespace, loads nothing more).
 */
import { parseNetConf, type NetConf } from '../../src/cni/config.ts';
import type { Exec } from '../../src/exec.ts';

/**
 * A parsed plugin configuration for `host` talking to `url`; `extra` adds or overrides fields
 * (`use_policy`, `cniVersion`, `kubernetes_config`, …).
 *
 * @example netConf('h1', romanad.url, { use_policy: true })
 */
export function netConf(host: string, url: string, extra: Record<string, unknown> = {}): NetConf {
  return parseNetConf(
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'romana',
      type: 'romana',
      romana_host_name: host,
      romanad_url: url,
      ...extra,
    }),
  );
}

/**
 * Runs real commands through `real`, except the pod side of the wiring (the `ip -batch` run
 * with nsenter in the pod's namespace), which fails: an ADD that fails after it allocated.
 *
 * @example cmdAdd(conf, env, { ...deps, exec: podWiringFails(new ProcessExec()) })
 */
export function podWiringFails(real: Exec): Exec {
  return {
    run: (program, args, stdin) =>
      program === 'nsenter' && args.includes('-batch')
        ? Promise.resolve({ code: 1, stdout: '', stderr: 'planted' })
        : real.run(program, args, stdin),
  };
}
