/**
 * Policy enforcement on the node (`romana-agent --policy`): renders the desired Romana chains
 * and ipsets from romanad's policies and blocks, and applies them as a diff (src/policy). A
 * change is applied against what was last applied (fast); a resync reads the kernel again,
 * which puts back anything changed by hand. One invalid policy is skipped and reported; the
 * others are enforced.
 *
 * Both address families are enforced from the same rendering (src/policy/family.ts): one
 * `Firewall` per family, IPv4 (`iptables`, `ROMANA-*` sets) then IPv6 (`ip6tables`,
 * `ROMANA6-*` sets), each applied atomically on its own; a resync reads and repairs both.
 *
 * In Kubernetes mode (`--policy-mode kubernetes`) the agent also follows romanad's pods (the
 * `addresses` kind, with their labels and named ports) and namespaces: a pod started, stopped or
 * relabelled, or a namespace relabelled, changes only the members of the sets it touches, in
 * one `ipset restore`; policies and blocks re-render as in 2.x mode.
 */
import { existsSync } from 'node:fs';
import type { Block, Policy } from '../client/index.ts';
import type { WatchEvent } from '../client/watch.ts';
import type { Exec } from '../exec.ts';
import type { Family } from '../net/addr.ts';
import {
  Firewall,
  isKubePolicy,
  POLICY_FAMILIES,
  Renderer,
  type DesiredState,
  type FirewallPlan,
} from '../policy/index.ts';
import { KubeView, type AddressLike, type NamespaceLike } from './policy-kube.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Log } from './provision.ts';
import { SingleFlight } from './single-flight.ts';
import { isolateRefused, type RefusedPolicy } from './policy-isolate.ts';

/**
 * How policies are enforced: `romana` (2.x: pod ingress denied unless allowed, egress policies
 * block) or `kubernetes` (NetworkPolicy semantics: isolation only from policies).
 *
 * @example const mode: PolicyMode = 'kubernetes';
 */
export type PolicyMode = 'romana' | 'kubernetes';

/** The romanad calls a resync makes (a subset of `RomanadClient`). */
export interface PolicySource {
  listPolicies(): Promise<Policy[]>;
  listAddresses(): Promise<AddressLike[]>;
  listNamespaces?(): Promise<NamespaceLike[]>;
}

/**
 * Both families, unless the kernel has no IPv6 at all (booted with `ipv6.disable=1`: no
 * `/proc/net/if_inet6`, no ip6tables), where no IPv6 packet can flow and IPv4 alone is enforced.
 */
function nodeFamilies(log: Log): readonly Family[] {
  if (existsSync('/proc/net/if_inet6')) return POLICY_FAMILIES;
  log('warn', 'IPv6 is disabled in this kernel: policies are enforced on IPv4 only');
  return [4];
}

export class PolicySync {
  readonly #renderer = new Renderer();
  readonly #firewalls: Firewall[];
  #policies = new Map<string, Policy>();
  readonly #flight = new SingleFlight(() => this.#syncOnce());
  readonly #kube: KubeView | undefined;
  #full = true;
  #render = true;
  #refused: RefusedPolicy[] = [];
  healthy = false;

  constructor(
    exec: Exec,
    readonly hostname: string,
    readonly blocks: () => Block[],
    readonly log: Log,
    readonly metrics?: AgentMetrics,
    readonly mode: PolicyMode = 'romana',
    readonly families: readonly Family[] = nodeFamilies(log),
  ) {
    this.#firewalls = families.map((f) => new Firewall(exec, f));
    this.#kube = mode === 'kubernetes' ? new KubeView() : undefined;
  }

  /** The watch kinds this enforcement follows. */
  get kinds(): WatchEvent['kind'][] {
    const kinds = ['policies'];
    if (this.#kube) kinds.push('addresses', 'namespaces');
    return kinds as WatchEvent['kind'][];
  }

  /** Lists what enforcement needs from romanad and replaces the copies. */
  async refresh(client: PolicySource): Promise<void> {
    const policies = await client.listPolicies();
    if (this.#kube) {
      const [addresses, namespaces] = await Promise.all([
        client.listAddresses(),
        client.listNamespaces?.() ?? Promise.resolve([]),
      ]);
      this.#kube.replace(addresses, namespaces);
    }
    this.replace(policies);
  }

  replace(policies: Policy[]): void {
    this.#policies = new Map(policies.map((p) => [p.id, p]));
    this.#full = true;
    this.#render = true;
  }

  apply(e: WatchEvent): void {
    const kind = e.kind as string;
    if (kind === 'blocks') this.#render = true;
    if (kind === 'policies') {
      if (e.type === 'delete') this.#policies.delete(e.id);
      else this.#policies.set(e.id, e.value as Policy);
      this.#render = true;
    } else if (this.#kube && (kind === 'addresses' || kind === 'namespaces')) {
      this.#kube.apply(kind, e.type, e.id, e.value);
    }
  }

  requestFull(): void {
    this.#full = true;
    this.#render = true;
  }

  /** The policies the kernel refused at the last apply (closed meanwhile), with its message. */
  get refused(): readonly RefusedPolicy[] {
    return this.#refused;
  }

  /** The desired state; the policies in `closed` in their closed form (see `closedForm`). */
  desired(closed?: ReadonlySet<string>): DesiredState {
    const end = this.metrics?.policyRenderSeconds.startTimer();
    let policies = [...this.#policies.values()];
    if (closed !== undefined && closed.size > 0) {
      policies = policies.flatMap((p) => {
        const c = closed.has(p.id) ? closedForm(p) : false;
        return c === false ? [p] : (c ?? []);
      });
    }
    const d = this.#kube
      ? this.#kube.render(policies, this.blocks(), this.hostname)
      : this.#renderer.render(policies, this.blocks(), this.hostname);
    end?.();
    return d;
  }

  /** What a sync would run now against the kernel, per family, without running it. */
  async plan(): Promise<Map<Family, FirewallPlan>> {
    const desired = this.desired();
    const plans = new Map<Family, FirewallPlan>();
    for (const fw of this.#firewalls) plans.set(fw.family, await fw.plan(desired));
    return plans;
  }

  /** Applies the desired state; one at a time, a request during a run runs once after. */
  sync(): Promise<void> {
    return this.#flight.run();
  }

  async #syncOnce(): Promise<void> {
    const full = this.#full;
    this.#full = false;
    try {
      if (this.#kube && !full && !this.#render) {
        const changes = this.#kube.takeChanges();
        if (await this.#patchAll(changes)) return;
      }
      this.#render = false;
      let desired = this.desired();
      for (const s of desired.skipped) {
        this.log('warn', 'policy not enforced', { policy: s.id, problems: s.problems });
      }
      const end = this.metrics?.policyApplySeconds.startTimer();
      const failure = await this.#applyAll(desired, !full);
      if (failure === undefined) this.#report([]);
      else desired = await this.#isolate(desired, failure);
      end?.();
      this.metrics?.policyRules.set(desired.chains.reduce((n, c) => n + c.rules.length, 0));
      this.metrics?.managedSets.set(desired.sets.length);
      this.metrics?.skippedPolicies.set(desired.skipped.length);
      this.healthy = true;
    } catch (err) {
      this.healthy = false;
      this.#full = true;
      this.#render = true;
      this.metrics?.policyErrors.inc();
      this.log('error', 'policy apply failed', { err: String(err) });
    }
  }

  /** Applies `desired` on every family; the failure's message, or undefined when all took it. */
  async #applyAll(desired: DesiredState, fromLastApplied: boolean): Promise<string | undefined> {
    try {
      for (const fw of this.#firewalls) await fw.apply(desired, { fromLastApplied });
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }

  /**
   * After a failed apply: finds the policies whose part the kernel refuses, applies every
   * other policy with them closed, and returns the state applied. The policies refused last
   * time are searched first (cheap when nothing else changed); throws when no policy's closed
   * form makes the kernel take the rest.
   */
  async #isolate(failed: DesiredState, message: string): Promise<DesiredState> {
    const skipped = new Set(failed.skipped.map((s) => s.id));
    const suspects = [...this.#policies.values()]
      .filter((p) => !skipped.has(p.id) && closedForm(p) !== false)
      .map((p) => p.id)
      .sort();
    let applied = failed;
    let applies = 0;
    const tryApply = (closed: ReadonlySet<string>) => {
      applies++;
      applied = this.desired(closed);
      return this.#applyAll(applied, true);
    };
    const before = this.#refused.map((r) => r.id).filter((id) => suspects.includes(id));
    let found = before.length > 0 ? await isolateRefused(before, tryApply) : undefined;
    if (found?.ok !== true) found = await isolateRefused(suspects, tryApply);
    if (!found.ok) throw new Error(message);
    this.#report(found.refused, applies);
    return applied;
  }

  /**
   * Logs and counts the refused policies (none: clears the report); `applies`: how many the
   * search took after the failed one.
   */
  #report(refused: RefusedPolicy[], applies = 0): void {
    if (refused.length === 0 && this.#refused.length === 0) return;
    this.#refused = refused;
    this.metrics?.refusedPolicies.reset();
    for (const r of refused) {
      this.log('warn', 'policy refused by the kernel: its pods stay isolated without its rules', {
        policy: r.id,
        err: r.message,
        applies,
      });
      this.metrics?.refusedPolicies.set({ policy: r.id }, 1);
    }
  }

  /** Member changes on every family; false (apply a full state) when one family cannot. */
  async #patchAll(changes: Parameters<Firewall['patchSets']>[0]): Promise<boolean> {
    let all = true;
    for (const fw of this.#firewalls) all = (await fw.patchSets(changes)) && all;
    return all;
  }
}

/**
 * A policy's closed form, applied while the kernel refuses its own part: it keeps the pods it
 * selects as isolated as it makes them, and allows nothing. Kubernetes form: the same targets
 * and `policyTypes` (made explicit) with no rules. 2.x ingress policy: left out (pod ingress
 * is denied by default in that mode). `false`: none exists (a 2.x egress policy blocks, so
 * leaving it out would widen traffic); such a policy is never set aside.
 */
export function closedForm(p: Policy): Policy | undefined | false {
  if (isKubePolicy(p)) {
    const types = p.policyTypes ?? (p.egress?.length ? ['Ingress', 'Egress'] : ['Ingress']);
    return { ...p, policyTypes: [...types], ingress: [], egress: [] };
  }
  return p.direction === 'ingress' ? undefined : false;
}
