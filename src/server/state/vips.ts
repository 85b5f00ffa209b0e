/**
 * Virtual IPs: an address a Kubernetes Service (or an operator) exposes on one node, which
 * the node's agent holds as a /32 on its primary link, and which moves to another node when
 * the VIP's `host` changes. The 2.x listener wrote them straight into etcd (reference §8.4,
 * §6.5); here romanad owns them like every other object: one key per VIP, a second key per
 * address so that two VIPs never share one, validated writes, and `vips` events on the
 * watch stream.
 */
import { invalidInput, RomanaError } from '../../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr, specialUse } from '../../net/addr.ts';
import { nameProblem } from '../../names.ts';
import { parseTopology } from '../../ipam/topology.ts';
import type { ServiceCore } from './core.ts';
import { vipIpKey, vipKey } from './keys.ts';
import type { Vip, VipInput } from './service.ts';
import { TxnSet, type Decision } from './txn-runner.ts';

/**
 * Checks a `PUT /vips/{name}` body against what romanad knows; every problem is reported,
 * each naming its field and value.
 *
 * @example
 * validateVip('web.default', { ip: '192.0.2.10', host: 'node-1' },
 *             { hosts: new Map([['node-1', '192.0.2.1']]), networks: [] })
 * // { name: 'web.default', ip: '192.0.2.10', host: 'node-1' }
 */
export function validateVip(
  name: string,
  body: VipInput,
  known: {
    /** Host name → host IP. */
    hosts: ReadonlyMap<string, string>;
    /** Host name → host IPv6 address ('' for none). */
    hosts6?: ReadonlyMap<string, string>;
    networks: ReadonlyArray<{ id: string; cidr: string }>;
  },
): Vip {
  const problems: string[] = [];
  const badName = nameProblem(name);
  if (badName !== undefined) problems.push(`name: ${badName}`);
  const addr = Addr.tryParse(body.ip);
  if (addr === undefined) {
    problems.push(parseProblem(body.ip));
  } else {
    if (specialUse(addr) !== undefined) {
      problems.push(
        `ip: '${body.ip}' cannot be a VIP (unspecified, loopback, multicast or reserved)`,
      );
    }
    for (const n of known.networks) {
      if (Cidr.parse(n.cidr, 'cidr', BOTH_FAMILIES).containsAddr(addr)) {
        problems.push(
          `ip: '${body.ip}' lies inside Romana network ${n.id} (${n.cidr}), whose addresses go to pods`,
        );
      }
    }
    for (const [host, ip] of [...known.hosts, ...(known.hosts6 ?? [])]) {
      if (ip === body.ip) problems.push(`ip: '${body.ip}' is the address of host ${host}`);
    }
  }
  if (!known.hosts.has(body.host)) problems.push(`host: no host named '${body.host}'`);
  if (problems.length > 0) {
    throw invalidInput(problems.join('\n'), {
      resourceType: 'vip',
      resourceId: name,
      semantic: addr !== undefined && badName === undefined,
    });
  }
  const vip: Vip = { name, ip: body.ip, host: body.host };
  if (body.namespace !== undefined) vip.namespace = body.namespace;
  return vip;
}

/** Why address text is refused, in the parser's words (zone ids, mapped, non-canonical…). */
function parseProblem(text: string): string {
  try {
    Addr.parse(text, 'ip');
  } catch (err) {
    return (err as Error).message;
  }
  return `ip: '${text}' is not a valid IPv4 or IPv6 address`;
}

/**
 * The problems a topology document would make with the VIPs held now: a network that covers a
 * VIP would hand its address to a pod. Empty when there are none (or the document is invalid:
 * the topology's own validation reports that).
 */
export function vipsInsideNetworks(doc: unknown, vips: Iterable<Vip>): string[] {
  const parsed = parseTopology(doc);
  if (!parsed.ok) return [];
  const problems: string[] = [];
  for (const v of vips) {
    const addr = Addr.tryParse(v.ip);
    const n = addr && parsed.spec.networks.find((x) => x.cidr.containsAddr(addr));
    if (n) {
      problems.push(
        `network ${n.name} (${n.cidr.toString()}) covers VIP ${v.name} (${v.ip}); move or delete the VIP first`,
      );
    }
  }
  return problems;
}

export class VipOps {
  readonly core: ServiceCore;

  constructor(core: ServiceCore) {
    this.core = core;
  }

  list(): Vip[] {
    return [...this.core.state.vips.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): Vip {
    const v = this.core.state.vips.get(name);
    if (v === undefined) {
      throw new RomanaError('NotFound', `No VIP named ${name}`, {
        resourceType: 'vip',
        resourceId: name,
      });
    }
    return v;
  }

  /** Creates the VIP or replaces it (a new host moves it); its address must be free. */
  async put(name: string, body: VipInput): Promise<Vip> {
    this.core.checkWritable();
    return this.core.rw.read(() =>
      this.core.runner.run(`writing VIP ${name}`, () => this.#decidePut(name, body)),
    );
  }

  async #decidePut(name: string, body: VipInput): Promise<Decision<Vip>> {
    const core = this.core;
    const vip = validateVip(name, body, {
      hosts: new Map([...core.state.hosts].map(([n, h]) => [n, h.ip])),
      hosts6: new Map([...core.state.hosts].map(([n, h]) => [n, h.ip6 ?? ''])),
      networks: core.ipam.listNetworks(),
    });
    const before = core.state.vips.get(name);
    let holder = this.#holderOf(vip.ip);
    if (holder !== undefined && holder !== name) {
      // Another replica may have moved or deleted it a moment ago: ask the store.
      await core.refreshKeys([vipKey(holder)]);
      holder = this.#holderOf(vip.ip);
      if (holder !== undefined && holder !== name) throw this.#taken(vip.ip, holder);
    }
    const txn = new TxnSet()
      .read(core, vipKey(name))
      .read(core, vipIpKey(vip.ip))
      .put(vipKey(name), vip)
      .put(vipIpKey(vip.ip), name);
    if (before !== undefined && before.ip !== vip.ip) txn.delete(vipIpKey(before.ip));
    return {
      txn,
      explain: async () => {
        const now = await core.store.get(vipIpKey(vip.ip));
        if (now !== undefined && now.value !== name) throw this.#taken(vip.ip, now.value);
      },
      committed: () => {
        core.state.vips.set(name, vip);
        return { value: vip, events: [{ kind: 'vips', type: 'put', id: name, value: vip }] };
      },
    };
  }

  async delete(name: string): Promise<void> {
    this.core.checkWritable();
    await this.core.rw.read(() =>
      this.core.runner.run(`deleting VIP ${name}`, (): Decision<void> => {
        const vip = this.get(name);
        return {
          txn: new TxnSet()
            .read(this.core, vipKey(name))
            .delete(vipKey(name))
            .delete(vipIpKey(vip.ip)),
          committed: () => {
            this.core.state.vips.delete(name);
            return {
              value: undefined,
              events: [{ kind: 'vips', type: 'delete', id: name, value: null }],
            };
          },
        };
      }),
    );
  }

  #holderOf(ip: string): string | undefined {
    for (const v of this.core.state.vips.values()) if (v.ip === ip) return v.name;
    return undefined;
  }

  #taken(ip: string, holder: string): RomanaError {
    return new RomanaError('AlreadyExists', `VIP address ${ip} is already held by VIP ${holder}`, {
      resourceType: 'vip',
      resourceId: holder,
    });
  }
}
