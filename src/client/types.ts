/**
 * Wire types of romanad's REST API (docs/api.md), as the server's own view types declare them.
 * Type-only imports: nothing of the engine is loaded at run time.
 */
export type {
  Address,
  ContainerPort,
  ManagedHostView,
  Namespace,
  PodInput,
  PodLink,
  PodRef,
  WatchKind,
} from '../server/state/service.ts';
export type {
  BlockView as Block,
  BlocksView as BlockList,
  NetworkView as Network,
  RemovedHost,
  TopologyUpdateRequest as Topology,
} from '../ipam/index.ts';
export type { Policy } from '../policy/index.ts';

/** A host as `GET /hosts` lists it (`managed_by` when it was registered with one). */
export type Host = import('../server/state/service.ts').ManagedHostView;
/** A host with where it sits in each network (`GET /hosts/{name}`). */
export type HostDetail = import('../server/state/service.ts').ManagedHostView<
  import('../ipam/index.ts').HostDetailView
>;

/** `GET /hosts`. */
export interface HostList {
  hosts: Host[];
  revision: number;
}

/** `POST /hosts` body. */
export interface NewHost {
  name: string;
  ip: string;
  /** The host's own IPv6 address, when it has one. */
  ip6?: string;
  tags?: Record<string, string>;
  agent_port?: number;
  k8s_info?: Record<string, unknown>;
  /** Who registers the host and may remove it (e.g. `romana-listener`); set once. */
  managed_by?: string;
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
  /** The Kubernetes pod the address is for; linked in the same transaction. */
  pod?: import('../server/state/service.ts').PodRef;
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
