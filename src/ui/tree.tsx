/**
 * The topology as a tree: each network, its prefix groups with their CIDRs, the hosts placed in
 * each group and each host's blocks coloured by fill, with totals per network and group.
 *
 * Big is cheap: a group's host list is drawn only when opened (groups with many hosts start
 * closed), and an open list draws only the rows in view (fixed-height rows in a scroller).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Block } from '../client/types.ts';
import {
  blockSize,
  fill,
  type GroupView,
  type HostRow,
  type NetworkView,
  type Usage,
} from './model.ts';

const ROW_PX = 28;
const ROWS_IN_VIEW = 14;

/**
 * Colour of a fill 0..1: green when empty, through yellow, to red when full.
 *
 * @example fillColour(1) // 'hsl(0 70% 45%)'
 */
export function fillColour(f: number): string {
  return `hsl(${Math.round(120 * (1 - Math.min(1, Math.max(0, f))))} 70% 45%)`;
}

export function UsageBar({ u }: { u: Usage }) {
  const f = fill(u);
  const pct = Math.round(f * 1000) / 10;
  return (
    <span class="usage" title={`${u.allocated} of ${u.capacity} addresses in ${u.blocks} blocks`}>
      <span class="bar">
        <span style={{ width: `${pct}%`, background: fillColour(f) }} />
      </span>
      <span class="num">
        {u.allocated}/{u.capacity}
      </span>
    </span>
  );
}

export function BlockChip({ b }: { b: Block }) {
  const size = blockSize(b.cidr);
  const f = b.allocated_ip_count / size;
  const pct = Math.round(f * 100);
  const label = `${b.cidr}: ${b.allocated_ip_count}/${size}${b.tenant ? ` · tenant ${b.tenant}` : ''}`;
  return (
    <span
      class="chip"
      title={label}
      data-block={b.cidr}
      style={{ background: `linear-gradient(to top, ${fillColour(f)} ${pct}%, #e8ece8 ${pct}%)` }}
    />
  );
}

function HostLine({ h, focused }: { h: HostRow; focused: boolean }) {
  const el = useRef<HTMLDivElement>(null);
  // A host found by a search is brought into view once.
  useEffect(() => {
    if (focused) el.current?.scrollIntoView({ block: 'center' });
  }, [focused]);
  return (
    <div
      ref={el}
      class={focused ? 'host focused' : 'host'}
      data-host={h.name}
      style={{ height: `${ROW_PX}px` }}
    >
      <span class="hname">{h.name}</span>
      <span class="ip">{h.ip}</span>
      <span class="chips">
        {h.blocks.map((b) => (
          <BlockChip key={b.cidr} b={b} />
        ))}
      </span>
      <span class="count" data-allocated={h.usage.allocated}>
        {h.usage.allocated}/{h.usage.capacity}
      </span>
    </div>
  );
}

/** Only the rows in view are in the document. */
function HostList({ hosts, focus }: { hosts: HostRow[]; focus: string | undefined }) {
  const [top, setTop] = useState(() => {
    const i = focus === undefined ? -1 : hosts.findIndex((h) => h.name === focus);
    return i < 0 ? 0 : Math.max(0, i - 3) * ROW_PX;
  });
  if (hosts.length <= ROWS_IN_VIEW) {
    return (
      <div class="hosts">
        {hosts.map((h) => (
          <HostLine key={h.name} h={h} focused={h.name === focus} />
        ))}
      </div>
    );
  }
  const first = Math.max(0, Math.floor(top / ROW_PX) - 4);
  const last = Math.min(hosts.length, first + ROWS_IN_VIEW + 8);
  return (
    <div
      class="hosts scroll"
      style={{ height: `${ROWS_IN_VIEW * ROW_PX}px` }}
      ref={(el) => {
        if (el !== null && Math.abs(el.scrollTop - top) > ROW_PX) el.scrollTop = top;
      }}
      onScroll={(e) => setTop((e.currentTarget as HTMLElement).scrollTop)}
    >
      <div style={{ height: `${hosts.length * ROW_PX}px`, position: 'relative' }}>
        <div style={{ position: 'absolute', top: `${first * ROW_PX}px`, left: 0, right: 0 }}>
          {hosts.slice(first, last).map((h) => (
            <HostLine key={h.name} h={h} focused={h.name === focus} />
          ))}
        </div>
      </div>
    </div>
  );
}

export interface TreeProps {
  /** Groups opened or closed by hand (by key); the rest are open when in `openAtFirst`. */
  open: Map<string, boolean>;
  openAtFirst: Set<string>;
  toggle(key: string, now: boolean): void;
  /** A host to show (from a search): its groups open, its row marked. */
  focus: { network: string; host: string } | undefined;
}

/** Rows an open group adds: its subgroups, and its hosts as far as its list draws them. */
function rowsWhenOpen(g: GroupView): number {
  return g.groups.length + Math.min(g.hosts.length, ROWS_IN_VIEW + 8);
}

/**
 * The groups open at first: level by level from the top, each whole level while the rows drawn
 * stay within `budget` (about a screenful: more is not seen at first and only delays the first
 * drawing). A big topology starts as its upper level (the 1,024-host example: its 8 zones,
 * closed), a small one open.
 *
 * @example defaultOpen(view.networks.map((n) => n.root)) // Set { 'pods/zone-a', … }
 */
export function defaultOpen(roots: readonly GroupView[], budget = 48): Set<string> {
  const open = new Set<string>();
  let rows = roots.reduce((n, r) => n + rowsWhenOpen(r), 0);
  let level = roots.flatMap((r) => r.groups);
  while (level.length > 0) {
    const cost = level.reduce((n, g) => n + rowsWhenOpen(g), 0);
    if (rows + cost > budget) break;
    rows += cost;
    for (const g of level) open.add(g.key);
    level = level.flatMap((g) => g.groups);
  }
  return open;
}

function holds(g: GroupView, host: string): boolean {
  return g.hosts.some((h) => h.name === host) || g.groups.some((s) => holds(s, host));
}

function GroupNode({ g, p }: { g: GroupView; p: TreeProps }) {
  const focus = p.focus?.network === g.network && holds(g, p.focus.host) ? p.focus.host : undefined;
  const isOpen = focus !== undefined || (p.open.get(g.key) ?? p.openAtFirst.has(g.key));
  return (
    <div class="group" data-group={g.key} style={{ marginLeft: `${g.depth === 0 ? 0 : 14}px` }}>
      <div class="grow" onClick={() => p.toggle(g.key, !isOpen)}>
        <span class="twisty">{isOpen ? '▾' : '▸'}</span>
        <span class="gname">{g.name}</span>
        <span class="cidr">{g.cidr}</span>
        <span class="meta">
          {g.groupCount > 0 ? `${g.groupCount} groups · ` : ''}
          <span data-hosts={g.hostCount}>{g.hostCount} hosts</span> · {g.usage.blocks} blocks
        </span>
        <UsageBar u={g.usage} />
      </div>
      {isOpen && (
        <div class="body">
          {g.groups.map((s) => (
            <GroupNode key={s.key} g={s} p={p} />
          ))}
          {g.hosts.length > 0 && <HostList hosts={g.hosts} focus={focus} />}
        </div>
      )}
    </div>
  );
}

export function NetworkCard({ n, p }: { n: NetworkView; p: TreeProps }) {
  return (
    <section class="network" data-network={n.name}>
      <h2>
        {n.name} <span class="cidr">{n.cidr}</span>
        <span class="meta">
          blocks of /{n.blockMask} · {n.root.groupCount} groups · {n.root.hostCount} hosts ·{' '}
          {n.root.usage.blocks} blocks held, {n.freeBlocks} free
        </span>
        <UsageBar u={n.root.usage} />
      </h2>
      {n.root.groups.map((g) => (
        <GroupNode key={g.key} g={g} p={p} />
      ))}
      {n.root.hosts.length > 0 && <HostList hosts={n.root.hosts} focus={p.focus?.host} />}
    </section>
  );
}
