/**
 * BIRD over its control socket (`birdc -s SOCKET`, through `Exec`): applying a configuration
 * safely and reading the protocols' state.
 *
 * Applying: an unchanged text does nothing. Otherwise the new text is written beside the
 * configuration file, `birdc configure check "NEW"` must answer `Configuration OK`, then NEW
 * replaces the file (rename: a crash leaves the old or the new file, never half of one) and
 * `birdc configure` makes BIRD load it. A rejected text changes nothing: BIRD keeps running
 * the old configuration and the caller gets BIRD's message.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Exec, ExecResult } from '../exec.ts';

export type ApplyOutcome =
  { result: 'unchanged' } | { result: 'reconfigured' } | { result: 'rejected'; message: string };

/** One protocol of `birdc show protocols all`. */
export interface ProtocolState {
  name: string;
  proto: string;
  /** BIRD's protocol state: `up`, `start`, `down`, `flush`… */
  state: string;
  /** For BGP: `Established`, `Active`, `Connect`, `Idle`, `OpenSent`… */
  bgpState?: string;
  neighbor?: string;
  neighborAs?: number;
  lastError?: string;
  /** Per channel (`ipv4`, `ipv6`): BIRD's import/export update and withdraw counters. */
  stats: Record<string, ChannelStats>;
}

export interface ChannelStats {
  importUpdates: number;
  importWithdraws: number;
  exportUpdates: number;
  exportWithdraws: number;
  routesImported: number;
  routesExported: number;
}

/** The answer of birdc without its banner line (`BIRD 2.0.12 ready.`). */
function body(r: ExecResult): string {
  return `${r.stdout}${r.stderr}`.replace(/^BIRD [^\n]* ready\.\n/, '').trim();
}

export class BirdControl {
  readonly #exec: Exec;
  readonly #socket: string;
  readonly #birdc: string;

  constructor(exec: Exec, socket: string, birdc = 'birdc') {
    this.#exec = exec;
    this.#socket = socket;
    this.#birdc = birdc;
  }

  async #run(...args: string[]): Promise<{ ok: boolean; text: string }> {
    const r = await this.#exec.run(this.#birdc, ['-s', this.#socket, ...args]);
    return { ok: r.code === 0, text: body(r) };
  }

  /** `configure check "file"`: BIRD's verdict without loading anything. */
  async check(file: string): Promise<{ ok: boolean; text: string }> {
    const r = await this.#run('configure', 'check', JSON.stringify(file));
    return { ok: r.ok && /Configuration OK/.test(r.text), text: r.text };
  }

  /** `configure`: BIRD loads its configuration file again. */
  async configure(): Promise<{ ok: boolean; text: string }> {
    const r = await this.#run('configure');
    return { ok: r.ok && /Reconfigur/.test(r.text) && !/error/i.test(r.text), text: r.text };
  }

  /** Writes `text` as configuration `file` and loads it, unless unchanged or rejected. */
  async apply(file: string, text: string): Promise<ApplyOutcome> {
    const old = await readFile(file, 'utf8').catch(() => undefined);
    if (old === text) return { result: 'unchanged' };
    const next = `${file}.romana-new`;
    await writeFile(next, text, { mode: 0o644 });
    const checked = await this.check(next);
    if (!checked.ok) {
      await rm(next, { force: true });
      return { result: 'rejected', message: checked.text };
    }
    await rename(next, file);
    const done = await this.configure();
    if (done.ok) return { result: 'reconfigured' };
    // Loading failed after a good check (BIRD busy or gone): put the old file back.
    if (old !== undefined) await writeFile(file, old, { mode: 0o644 });
    return { result: 'rejected', message: done.text };
  }

  /** Every protocol with its state and route counters. */
  async protocols(): Promise<ProtocolState[]> {
    const r = await this.#run('show', 'protocols', 'all');
    if (!r.ok) throw new Error(`birdc show protocols all: ${r.text}`);
    return parseProtocols(r.text);
  }

  /** `show route` output for the given arguments (e.g. `protocol romana4`). */
  async routes(...args: string[]): Promise<string> {
    return (await this.#run('show', 'route', ...args)).text;
  }
}

const num = (s: string | undefined) => (s === undefined || s === '---' ? 0 : Number(s));

/** Reads `show protocols all`: a row per protocol, its details indented below it. */
export function parseProtocols(text: string): ProtocolState[] {
  const out: ProtocolState[] = [];
  let cur: ProtocolState | undefined;
  let channel = '';
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('Name ')) continue;
    if (!/^\s/.test(line)) {
      const [name = '', proto = '', , state = ''] = line.split(/\s+/);
      cur = { name, proto, state, stats: {} };
      out.push(cur);
      continue;
    }
    if (cur === undefined) continue;
    const [key, value = ''] = line.trim().split(/:\s+/, 2) as [string, string?];
    if (key === 'BGP state') cur.bgpState = value;
    else if (key === 'Neighbor address') cur.neighbor = value;
    else if (key === 'Neighbor AS') cur.neighborAs = Number(value);
    else if (key === 'Last error') cur.lastError = value;
    else if (/^Channel /.test(line.trim())) channel = line.trim().slice('Channel '.length);
    else if (key === 'Routes') {
      const s = (cur.stats[channel] ??= emptyStats());
      s.routesImported = Number(/(\d+) imported/.exec(value)?.[1] ?? 0);
      s.routesExported = Number(/(\d+) exported/.exec(value)?.[1] ?? 0);
    } else if (/^(Import|Export) (updates|withdraws)$/.test(key)) {
      const s = (cur.stats[channel] ??= emptyStats());
      // received rejected filtered ignored accepted: the last column counts what passed.
      const cols = value.split(/\s+/);
      const k = `${key.startsWith('Import') ? 'import' : 'export'}${
        key.endsWith('updates') ? 'Updates' : 'Withdraws'
      }` as keyof ChannelStats;
      s[k] = num(cols[0]);
    }
  }
  return out;
}

function emptyStats(): ChannelStats {
  return {
    importUpdates: 0,
    importWithdraws: 0,
    exportUpdates: 0,
    exportWithdraws: 0,
    routesImported: 0,
    routesExported: 0,
  };
}
