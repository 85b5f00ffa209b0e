/** The IPAM engine's public surface. */
export { Addr, Cidr } from './addr.ts';
export type { Family } from './addr.ts';
export { IdPool } from './id-pool.ts';
export { Ipam } from './ipam.ts';
export type { AllocationRequest } from './alloc.ts';
export type { BlackoutView } from './blackouts.ts';
export type { HostRef, HostRequest, RemovedHost } from './hosts.ts';
export type {
  AddressRecord,
  BlockRecord,
  HostRecord,
  IpamSnapshot,
  NetworkRecord,
} from './snapshot.ts';
export type { Revisions } from './state.ts';
export type { BlockChange, BlockHandle, BlockState } from './replica.ts';
export { blockStateJson } from './replica.ts';
export { parseTopology, DEFAULT_BLOCK_MASK } from './topology.ts';
export type {
  GroupOrHost,
  NetworkDefinition,
  TopologyDefinition,
  TopologyUpdateRequest,
} from './topology.ts';
export type { TopologyUpdateResult } from './update.ts';
export type {
  AddressView,
  BlockView,
  BlocksView,
  HostDetailView,
  HostView,
  NetworkView,
} from './views.ts';
export { addressViewJson } from './views.ts';
