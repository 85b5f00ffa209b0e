/**
 * Small helpers for the test API server's own tests: waiting for a condition, and collecting
 * watch events through the official client.
 */
import * as k8s from '@kubernetes/client-node';

/** Polls `cond` every 10 ms until it holds or `ms` pass (then throws with `what`). */
export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface WatchEvent {
  type: string;
  object: k8s.KubernetesObject & { code?: number; reason?: string };
}

export interface Collected {
  events: WatchEvent[];
  /** Set once the watch ended: null for a clean end, else the error. */
  done: { err: unknown } | undefined;
  abort(): void;
}

/** Starts a watch through client-node's `Watch` and collects what it sees. */
export async function collectWatch(
  kc: k8s.KubeConfig,
  path: string,
  query: Record<string, string | number | boolean>,
): Promise<Collected> {
  const c: Collected = { events: [], done: undefined, abort: () => {} };
  const controller = await new k8s.Watch(kc).watch(
    path,
    query,
    (type, object) => c.events.push({ type, object: object as WatchEvent['object'] }),
    (err: unknown) => {
      c.done = { err };
    },
  );
  c.abort = () => controller.abort();
  return c;
}

/** The HTTP status and parsed body of a client-node ApiException. */
export function apiError(err: unknown): { code: number; body: Record<string, unknown> } {
  if (!(err instanceof k8s.ApiException)) throw err;
  const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  return { code: err.code, body: body as Record<string, unknown> };
}

/** Runs `fn`, expecting an ApiException; returns its status and body. */
export async function expectApiError(
  fn: () => Promise<unknown>,
): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await fn();
  } catch (err) {
    return apiError(err);
  }
  throw new Error('expected the call to fail');
}
