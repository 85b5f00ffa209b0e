/**
 * `npm run kube-apiserver -- --port N [--request-log FILE]`: the test API server as a process,
 * for pointing kubectl or a listener at by hand. Prints the URL and a kubeconfig path, then
 * serves until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { startKubeApiServer } from './index.ts';

const HELP = `Usage: npm run kube-apiserver -- [options]

A Kubernetes API server for tests: discovery, list/watch (bookmarks, 410 after
compaction), create/get/update/patch/delete and /status for core, apps, rbac,
networking, coordination and discovery resources. Plain HTTP, objects in memory.

Options:
  --port N              port to listen on (default 0: any free port)
  --host ADDR           address to listen on (default 127.0.0.1)
  --request-log FILE    append every request as a JSON line {verb, group, version,
                        resource, subresource, namespace, name} to FILE
  --bookmark-ms N       interval of BOOKMARK events on watches (default 1000)
  --history-limit N     changes kept for watches to replay (default 10000)
  --token T             require "Authorization: Bearer T"
  --too-old-watch HOW   a watch from a compacted version: "status" (HTTP 410,
                        default) or "event" (200 with one ERROR event)
  --graceful-pods       a pod bound to a node is only marked by a delete, until a
                        delete with gracePeriodSeconds 0 (what a kubelet sends)
  --namespace-deletion-ms N
                        how long a deleted namespace stays Terminating (1000)
  --help                this text
  --version             the Kubernetes version it claims

Then: kubectl --kubeconfig <printed path> get nodes
`;

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`${flag}: expected a non-negative integer, got "${v}"\n`);
    process.exit(2);
  }
  return n;
}

function tooOld(v: string | undefined): 'status' | 'event' | undefined {
  if (v === undefined || v === 'status' || v === 'event') return v;
  process.stderr.write(`--too-old-watch: expected "status" or "event", got "${v}"\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'request-log': { type: 'string' },
      'bookmark-ms': { type: 'string' },
      'history-limit': { type: 'string' },
      token: { type: 'string' },
      'too-old-watch': { type: 'string' },
      'graceful-pods': { type: 'boolean' },
      'namespace-deletion-ms': { type: 'string' },
      help: { type: 'boolean' },
      version: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help === true) return void process.stdout.write(HELP);
  if (values.version === true) return void process.stdout.write('v1.32.0-romana-test\n');
  const api = await startKubeApiServer({
    port: int(values.port, '--port'),
    host: values.host,
    requestLog: values['request-log'],
    bookmarkMs: int(values['bookmark-ms'], '--bookmark-ms'),
    historyLimit: int(values['history-limit'], '--history-limit'),
    token: values.token,
    tooOldWatch: tooOld(values['too-old-watch']),
    gracefulPodDeletion: values['graceful-pods'] === true,
    namespaceDeletionMs: int(values['namespace-deletion-ms'], '--namespace-deletion-ms'),
  });
  process.stdout.write(`kube-apiserver (test) listening on ${api.url}\n`);
  process.stdout.write(`kubeconfig: ${api.kubeconfigPath}\n`);
  const stop = (): void => {
    void api.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`kube-apiserver: ${err instanceof Error ? err.message : String(err)}\n`);
  const usage = String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');
  process.exit(usage ? 2 : 1);
});
