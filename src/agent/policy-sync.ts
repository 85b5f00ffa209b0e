/**
 * Policy enforcement on the node (`romana-agent --policy`): renders the desired Romana chains
 * and ipsets from romanad's policies and blocks, and applies them as a diff (src/policy). A
 * change is applied against what was last applied (fast); a resync reads the kernel again,
 * which puts back anything changed by hand. One invalid policy is skipped and reported; the
 * others are enforced.
 */
import type { Block, Policy } from '../client/index.ts';
import type { WatchEvent } from '../client/watch.ts';
import type { Exec } from '../exec.ts';
import { Firewall, Renderer, type DesiredState, type FirewallPlan } from '../policy/index.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Log } from './provision.ts';
import { SingleFlight } from './single-flight.ts';

export class PolicySync {
  readonly #renderer = new Renderer();
  readonly #firewall: Firewall;
  #policies = new Map<string, Policy>();
  readonly #flight = new SingleFlight(() => this.#syncOnce());
  #full = true;
  healthy = false;

  constructor(
    exec: Exec,
    readonly hostname: string,
    readonly blocks: () => Block[],
    readonly log: Log,
    readonly metrics?: AgentMetrics,
  ) {
    this.#firewall = new Firewall(exec);
  }

  replace(policies: Policy[]): void {
    this.#policies = new Map(policies.map((p) => [p.id, p]));
    this.#full = true;
  }

  apply(e: WatchEvent): void {
    if (e.kind !== 'policies') return;
    if (e.type === 'delete') this.#policies.delete(e.id);
    else this.#policies.set(e.id, e.value as Policy);
  }

  requestFull(): void {
    this.#full = true;
  }

  desired(): DesiredState {
    const end = this.metrics?.policyRenderSeconds.startTimer();
    const d = this.#renderer.render([...this.#policies.values()], this.blocks(), this.hostname);
    end?.();
    return d;
  }

  /** What a sync would run now against the kernel, without running it. */
  plan(): Promise<FirewallPlan> {
    return this.#firewall.plan(this.desired());
  }

  /** Applies the desired state; one at a time, a request during a run runs once after. */
  sync(): Promise<void> {
    return this.#flight.run();
  }

  async #syncOnce(): Promise<void> {
    const full = this.#full;
    this.#full = false;
    try {
      const desired = this.desired();
      for (const s of desired.skipped) {
        this.log('warn', 'policy not enforced', { policy: s.id, problems: s.problems });
      }
      const end = this.metrics?.policyApplySeconds.startTimer();
      await this.#firewall.apply(desired, { fromLastApplied: !full });
      end?.();
      this.metrics?.policyRules.set(desired.chains.reduce((n, c) => n + c.rules.length, 0));
      this.metrics?.managedSets.set(desired.sets.length);
      this.metrics?.skippedPolicies.set(desired.skipped.length);
      this.healthy = true;
    } catch (err) {
      this.healthy = false;
      this.#full = true;
      this.metrics?.policyErrors.inc();
      this.log('error', 'policy apply failed', { err: String(err) });
    }
  }
}
