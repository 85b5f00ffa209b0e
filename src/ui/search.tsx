/**
 * Search by pod name or IP: romanad looks the address up (`GET /address?addressName=`, which
 * takes either); the page adds where it sits (host, block, group) and the route other nodes
 * use to reach it. A name that matches no pod exactly lists the pods whose names contain it;
 * an IP that no pod holds still shows the block and host it falls in.
 */
import { useState } from 'preact/hooks';
import type { Address, Block } from '../client/types.ts';
import { ApiError } from './api.ts';
import { blockSize, groupOfHost, type DashView } from './model.ts';
import { routeToPod, type PodRoute } from './route.ts';
import type { LiveStore } from './store.ts';

export type Found =
  | { kind: 'pod'; address: Address; block: Block | undefined; route: PodRoute | undefined }
  | { kind: 'ip'; ip: string; block: Block | undefined; route: PodRoute | undefined }
  | { kind: 'names'; query: string; names: Address[] }
  | { kind: 'none'; query: string };

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

/** The block (owned or free) whose CIDR holds an IPv4 address. */
export function blockHolding(blocks: Iterable<Block>, ip: string): Block | undefined {
  const v = ipToNumber(ip);
  for (const b of blocks) {
    const [base, len] = b.cidr.split('/');
    if (base === undefined || base.includes(':')) continue;
    const start = ipToNumber(base);
    if (v >= start && v < start + 2 ** (32 - Number(len))) return b;
  }
  return undefined;
}

function routeFor(store: LiveStore, block: Block | undefined, ip: string): PodRoute | undefined {
  const topology = store.state.topology;
  if (block === undefined || block.host === '' || topology === undefined) return undefined;
  return routeToPod({ topology, hosts: [...store.state.hosts.values()], block, ip });
}

/** Runs one search against romanad and the page's copy. */
export async function search(store: LiveStore, raw: string): Promise<Found> {
  const q = raw.trim();
  try {
    const address = await store.api.json<Address>(`/address?addressName=${encodeURIComponent(q)}`);
    const block = store.state.blocks.get(address.block);
    return { kind: 'pod', address, block, route: routeFor(store, block, address.ip) };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
  if (IPV4.test(q)) {
    const block = blockHolding(store.state.blocks.values(), q);
    return { kind: 'ip', ip: q, block, route: routeFor(store, block, q) };
  }
  const all = await store.api.json<Address[]>('/addresses');
  const needle = q.toLowerCase();
  const names = all.filter((a) => a.name.toLowerCase().includes(needle)).slice(0, 20);
  return names.length > 0 ? { kind: 'names', query: q, names } : { kind: 'none', query: q };
}

function Where({
  view,
  block,
  network,
}: {
  view: DashView;
  block: Block | undefined;
  network: string;
}) {
  if (block === undefined) return <dd>no block of romanad holds it</dd>;
  const group = block.host === '' ? undefined : groupOfHost(view, network, block.host);
  return (
    <>
      <dt>host</dt>
      <dd data-field="host">{block.host === '' ? '(free block)' : block.host}</dd>
      <dt>block</dt>
      <dd data-field="block">
        {block.cidr} · {block.allocated_ip_count}/{blockSize(block.cidr)} used
      </dd>
      <dt>group</dt>
      <dd data-field="group">
        {group === undefined ? '—' : `${group.name} ${group.cidr} (network ${network})`}
      </dd>
    </>
  );
}

function RouteLine({ r, host }: { r: PodRoute | undefined; host: string }) {
  return (
    <>
      <dt>route</dt>
      <dd data-field="route">
        {r === undefined ? (
          '—'
        ) : (
          <>
            <code>
              {r.dst} via {r.via}
            </code>{' '}
            on every node but {host} ({r.reason}); on {host} the pod's own /32 to its veth
          </>
        )}
      </dd>
    </>
  );
}

export function FoundPanel({
  f,
  view,
  onPick,
}: {
  f: Found;
  view: DashView;
  onPick(q: string): void;
}) {
  switch (f.kind) {
    case 'pod':
      return (
        <dl class="found" data-testid="search-result">
          <dt>pod</dt>
          <dd data-field="name">{f.address.name}</dd>
          <dt>IP</dt>
          <dd data-field="ip">{f.address.ip}</dd>
          {f.address.tenant && (
            <>
              <dt>tenant</dt>
              <dd>
                {f.address.tenant}
                {f.address.segment ? ` / ${f.address.segment}` : ''}
              </dd>
            </>
          )}
          <Where view={view} block={f.block} network={f.address.network} />
          <RouteLine r={f.route} host={f.address.host} />
        </dl>
      );
    case 'ip':
      return (
        <dl class="found" data-testid="search-result">
          <dt>IP</dt>
          <dd data-field="ip">{f.ip} (no pod holds it)</dd>
          <Where view={view} block={f.block} network={f.block?.network ?? ''} />
          {f.block !== undefined && <RouteLine r={f.route} host={f.block.host} />}
        </dl>
      );
    case 'names':
      return (
        <div class="found" data-testid="search-result">
          No pod is named “{f.query}”; pods whose names contain it:
          <ul>
            {f.names.map((a) => (
              <li key={a.name}>
                <a href="#" onClick={(e) => (e.preventDefault(), onPick(a.name))}>
                  {a.name}
                </a>{' '}
                {a.ip} on {a.host}
              </li>
            ))}
          </ul>
        </div>
      );
    case 'none':
      return (
        <div class="found" data-testid="search-result">
          No pod named or at “{f.query}”.
        </div>
      );
  }
}

export function SearchBox({ onSearch }: { onSearch(q: string): void }) {
  const [q, setQ] = useState('');
  return (
    <form
      class="search"
      onSubmit={(e) => {
        e.preventDefault();
        if (q.trim() !== '') onSearch(q);
      }}
    >
      <input
        type="search"
        name="q"
        placeholder="pod name or IP"
        aria-label="Search by pod name or IP"
        value={q}
        onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)}
      />
      <button type="submit">Find</button>
    </form>
  );
}
