/** Helpers of test/e2e/dashboard.test.ts: requests, a relay it can break, a topology count. */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Topology } from '../../src/client/types.ts';
import { request } from '../helpers/romanad.ts';

/** One request that must succeed; its JSON answer. */
export async function ok<T>(
  url: string,
  method: string,
  body?: unknown,
  token?: string,
): Promise<T> {
  const r = await request(url, method, body, token === undefined ? {} : { token });
  assert.ok(
    r.status >= 200 && r.status < 300,
    `${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`,
  );
  return r.body as T;
}

/** Runs `fn` over `items`, `width` at a time. */
export async function pool<T>(
  items: T[],
  width: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: width }, worker));
}

/**
 * A TCP relay to romanad that the test can break: `cut()` ends every open connection; while
 * `hold` is set, new connections wait (their bytes are kept) until it is cleared.
 */
export async function breakableRelay(target: URL) {
  const open = new Set<net.Socket>();
  let held: Array<() => void> = [];
  const state = { hold: false };
  const server = net.createServer((s) => {
    open.add(s);
    s.pause();
    const connect = () => {
      const up = net.connect(Number(target.port), target.hostname);
      open.add(up);
      s.pipe(up).pipe(s);
      s.resume();
      for (const x of [s, up]) {
        x.on('error', () => {
          s.destroy();
          up.destroy();
        });
        x.on('close', () => {
          open.delete(x);
          s.destroy();
          up.destroy();
        });
      }
    };
    if (state.hold) held.push(connect);
    else connect();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => [...open].forEach((s) => s.destroy()),
    hold(on: boolean) {
      state.hold = on;
      if (on) return;
      for (const f of held) f();
      held = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

interface MapEntry {
  name?: string;
  ip?: string;
  cidr?: string;
  groups?: MapEntry[];
}

/** Groups and hosts of a topology document, counted independently of the page's code. */
export function countTree(t: Topology): {
  groups: number;
  hosts: number;
  hostsIn: Map<string, number>;
} {
  let groups = 0;
  let hosts = 0;
  const hostsIn = new Map<string, number>();
  const walk = (e: MapEntry): number => {
    if (e.ip !== undefined) {
      hosts += 1;
      return 1;
    }
    groups += 1;
    const n = (e.groups ?? []).reduce((sum, kid) => sum + walk(kid), 0);
    hostsIn.set(e.name ?? '', n);
    return n;
  };
  for (const topo of t.topologies) for (const e of topo.map as MapEntry[]) walk(e);
  return { groups, hosts, hostsIn };
}
