// Scopes of mutation testing (`npm run mutation -- SCOPE`): the source files Stryker mutates
// and the test files whose run decides whether a mutant is killed. Paths are explicit (no
// globs) so that test/mutation-config.test.ts can check every one exists. See docs/testing.md.
//
// Test files are listed cheapest first: a mutant runs its test files in this order and stops
// at the first that fails.

/** @type {Record<string, { what: string, mutate: string[], tests: string[] }>} */
export const scopes = {
  ipam: {
    what: 'the IPAM engine',
    mutate: [
      'src/net/addr.ts',
      'src/net/addr-text.ts',
      'src/ipam/alloc.ts',
      'src/ipam/blackouts.ts',
      'src/ipam/carve.ts',
      'src/ipam/hosts.ts',
      'src/ipam/id-pool.ts',
      'src/ipam/ipam.ts',
      'src/ipam/replica.ts',
      'src/ipam/snapshot.ts',
      'src/ipam/state.ts',
      'src/ipam/topology.ts',
      'src/ipam/topology-map.ts',
      'src/ipam/update.ts',
      'src/ipam/views.ts',
    ],
    // A run narrowed to one file goes much faster with the files that test that file first
    // (MUTATION_TESTS): docs/testing.md gives the order used for each ipam file.
    tests: [
      'src/ipam/ipam-ipv6.test.ts',
      'src/ipam/ipam-carry.test.ts',
      'src/ipam/ipam-hosts-edges.test.ts',
      'src/ipam/ipam-alloc-edges.test.ts',
      'src/ipam/ipam-facade.test.ts',
      'src/ipam/topology-map.test.ts',
      'src/ipam/topology-networks.test.ts',
      'src/ipam/carve.test.ts',
      'src/ipam/ipam-update-edges.test.ts',
      'src/ipam/ipam-topology.test.ts',
      'src/ipam/ipam-allocation.test.ts',
      'src/ipam/ipam-mutants.test.ts',
      'src/ipam/replica.test.ts',
      'src/ipam/ipam-hosts.test.ts',
      'src/ipam/topology.test.ts',
      'src/ipam/topology-options.test.ts',
      'src/ipam/replica-edges.test.ts',
      'src/ipam/snapshot-edges.test.ts',
      'src/ipam/id-pool.test.ts',
      'src/ipam/views.test.ts',
      'src/ipam/state.test.ts',
      'src/ipam/block-handles.test.ts',
      'src/ipam/id-pool.property.test.ts',
      'src/net/addr.test.ts',
      'src/net/addr-edges.test.ts',
      'src/ipam/ipam-reuse.property.test.ts',
      'src/ipam/ipam-dualstack.property.test.ts',
      // ~160 s a run on the shared machine: a narrowed run may leave it out (MUTATION_TESTS).
      'src/ipam/ipam-sequences.property.test.ts',
    ],
  },
  policy: {
    what: 'policy rendering and validation',
    mutate: [
      'src/policy/hash.ts',
      'src/policy/render.ts',
      'src/policy/render-format.ts',
      'src/policy/render-sets.ts',
      'src/policy/rules.ts',
      'src/policy/validate.ts',
    ],
    tests: [
      'src/policy/hash.test.ts',
      'src/policy/model.test.ts',
      'src/policy/render-sets.test.ts',
      'src/policy/render.test.ts',
      'src/policy/render-edges.test.ts',
      'src/policy/rules.test.ts',
      'src/policy/validate-endpoints.test.ts',
      'src/policy/validate.test.ts',
      'src/policy/validate-family.test.ts',
      'src/policy/validate-edges.test.ts',
      'test/e2e/policy-kernel.test.ts',
    ],
  },
  agent: {
    what: 'the agent: route planning and reconcile',
    mutate: [
      'src/agent/route-plan.ts',
      'src/net/aggregate.ts',
      'src/agent/reconciler.ts',
      'src/agent/kernel-routes.ts',
    ],
    tests: [
      'src/net/aggregate.test.ts',
      'src/agent/route-plan.test.ts',
      'src/agent/route-plan6.test.ts',
      'src/agent/route-plan.property.test.ts',
      // In-process, against a real `ip` in a throwaway namespace (a few seconds each).
      'src/agent/kernel-routes.test.ts',
      'src/agent/reconciler.test.ts',
      'test/e2e/agent-routes.test.ts',
      'test/e2e/agent-routes6.test.ts',
    ],
  },
  cni: {
    what: 'the CNI plugin: commands and wiring',
    mutate: ['src/cni/commands.ts', 'src/cni/wire.ts', 'src/cni/policy.ts', 'src/cni/config.ts'],
    tests: [
      'src/cni/config.test.ts',
      'src/cni/config-edges.test.ts',
      'src/cni/pod-args.test.ts',
      'src/cni/result.test.ts',
      'src/cni/main.test.ts',
      'src/cni/del.test.ts',
      'src/cni/wire-batch.test.ts',
      // In-process against real iptables in a throwaway namespace.
      'src/cni/policy.test.ts',
      // The wiring's own tests: each runs itself again in a host namespace of its own (~10 s).
      'src/cni/wire-edges.test.ts',
      'src/cni/wire6.test.ts',
      // Runs every command (ADD, DEL, CHECK, STATUS, GC) in-process: it decides most mutants.
      'src/cni/commands-edges.test.ts',
      'src/cni/commands-gc.test.ts',
      'src/cni/commands.test.ts',
      'src/cni/commands-segment.test.ts',
      'src/cni/commands-dual.test.ts',
    ],
  },
  store: {
    what: 'the stores: key-value state and WAL',
    mutate: [
      'src/store/kv-state.ts',
      'src/store/wal.ts',
      // The WAL reader: tells a torn tail from damage.
      'src/store/wal-scan.ts',
      'src/store/embedded.ts',
      'src/store/embedded-files.ts',
      'src/store/memory.ts',
      'src/store/sorted-keys.ts',
      'src/store/retry.ts',
    ],
    tests: [
      'src/store/retry.test.ts',
      'src/store/kv-state.test.ts',
      'src/store/wal.test.ts',
      'src/store/sorted-keys.test.ts',
      // The embedded store's files and edges on real files, milliseconds each.
      'src/store/embedded-files.test.ts',
      'src/store/embedded-files-edges.test.ts',
      'src/store/embedded-edges.test.ts',
      'src/store/memory.test.ts',
      'src/store/embedded-write-failure.test.ts',
      'src/store/embedded-check.test.ts',
      'src/store/embedded-damage.test.ts',
      'src/store/embedded.test.ts',
      // ~30 s a run (SIGKILL rounds): last.
      'src/store/embedded-crash.test.ts',
    ],
  },
  server: {
    what: "romanad's write path",
    mutate: [
      'src/server/state/address-queue.ts',
      'src/server/state/apply-events.ts',
      'src/server/state/core.ts',
      'src/server/state/host-ops.ts',
      'src/server/state/topology-writer.ts',
      // The one write path (issue 10): every write commits through the runner; operations of
      // several transactions through their intent.
      'src/server/state/txn-runner.ts',
      'src/server/state/operations.ts',
    ],
    tests: [
      'src/server/state/topology-writer.test.ts',
      'src/server/state/topology-writer-refusals.test.ts',
      'src/server/state/topology-writer-recovery.test.ts',
      'src/server/state/core.test.ts',
      'src/server/state/core-reload.test.ts',
      'src/server/state/operations-edges.test.ts',
      'src/server/state/apply-events.test.ts',
      'src/server/state/operations-intent.test.ts',
      'src/server/state/host-ops.test.ts',
      'src/server/state/host-ops-races.test.ts',
      'src/server/state/address-queue.test.ts',
      'src/server/state/address-queue-edges.test.ts',
      'src/server/state/txn-runner-edges.test.ts',
      'src/server/state/own-commits.test.ts',
      'src/server/state/txn-runner.test.ts',
      'src/server/state/operations.test.ts',
      'src/server/state/romana-service.test.ts',
      'src/server/http/app-store.test.ts',
      'src/server/http/app-topology.test.ts',
      'src/server/http/app-addresses.test.ts',
    ],
  },
};
