/**
 * Wire types of romanad's REST API (docs/api.md), as the server's own view types declare them.
 * Type-only imports: nothing of the engine is loaded at run time.
 */
export type {
  AddressView as Address,
  BlockView as Block,
  BlocksView as BlockList,
  HostDetailView as HostDetail,
  HostView as Host,
  NetworkView as Network,
  RemovedHost,
  TopologyUpdateRequest as Topology,
} from '../ipam/index.ts';
export type { Policy } from '../policy/index.ts';

/** `GET /hosts`. */
export interface HostList {
  hosts: import('../ipam/index.ts').HostView[];
  revision: number;
}

/** `POST /hosts` body. */
export interface NewHost {
  name: string;
  ip: string;
  tags?: Record<string, string>;
  agent_port?: number;
  k8s_info?: Record<string, unknown>;
}

/** `PATCH /hosts/{name}` body: `null` clears a field, an absent key keeps it. */
export interface HostPatch {
  tags?: Record<string, string> | null;
  k8s_info?: Record<string, unknown> | null;
}

/** `POST /address` body. */
export interface AllocationRequest {
  name: string;
  host: string;
  tenant?: string;
  segment?: string;
}

/** One blackout (reserved range). */
/** A VIP (`GET /vips`): an IPv4 address held by one host. */
export interface Vip {
  name: string;
  ip: string;
  host: string;
  namespace?: string;
}

export interface Blackout {
  network: string;
  cidr: string;
}
