/**
 * What romanad's HTTP layer calls: the control plane's operations, each validated, persisted
 * and all-or-nothing. Implementations throw `RomanaError`s (src/errors.ts); the HTTP layer maps
 * them to statuses with `httpStatusOf`.
 */
import type {
  AddressView,
  AllocationRequest,
  BlackoutView,
  BlocksView,
  HostDetailView,
  HostView,
  Ipam,
  NetworkView,
  RemovedHost,
  TopologyUpdateRequest,
  TopologyUpdateResult,
} from '../../ipam/index.ts';
import type { Policy } from '../../policy/index.ts';
import type { StoreHealth } from '../../store/store.ts';

/** A Romana policy (reference §10.1), as src/policy validates and normalises it. */
export type { Policy };

/** A virtual IP held by one host (docs/api.md, "VIPs"). */
export interface Vip {
  /** Its identity, by convention `<service>.<namespace>` (the `{name}` of `/vips/{name}`). */
  name: string;
  /** The IPv4 address exposed. */
  ip: string;
  /** The romanad host that holds the address now; changing it moves the address. */
  host: string;
  /** Kubernetes namespace of the Service, when it came from one. */
  namespace?: string;
}

/** The body of `PUT /vips/{name}`. */
export interface VipInput {
  ip: string;
  host: string;
  namespace?: string;
}

/** A named port of one of a pod's containers (for named ports in policies). */
export interface ContainerPort {
  name?: string;
  /** 1–65535. */
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

/** The Kubernetes pod an address belongs to, as `POST /address` names it. */
export interface PodRef {
  /** A DNS label. */
  namespace: string;
  /** A DNS subdomain. */
  name: string;
  /** The pod's uid (a pod recreated under the same name is another pod). */
  uid?: string;
}

/** The body of `PUT /addresses/{name}/pod`: the pod, its labels and its named ports. */
export interface PodInput extends PodRef {
  labels?: Record<string, string>;
  ports?: ContainerPort[];
}

/** The pod link of an address as stored and shown (`labels` {} and `ports` [] when unset). */
export interface PodLink extends PodRef {
  labels: Record<string, string>;
  ports: ContainerPort[];
}

/** An address as the API shows it: the engine's view, plus the pod it belongs to. */
export interface Address extends AddressView {
  pod?: PodLink;
}

/** A Kubernetes namespace and its labels (docs/api.md, "Namespaces"). */
export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

/** A host as the API shows it: the engine's view, plus who manages it. */
export type ManagedHostView<H extends HostView = HostView> = H & { managed_by?: string };

/** The live engine and the engine after a topology update, both copies (see `previewTopology`). */
export interface TopologyPreviewState {
  before: Ipam;
  after: Ipam;
  result: TopologyUpdateResult;
}

/** Kinds of objects a watch stream can follow. */
export type WatchKind =
  'blocks' | 'hosts' | 'policies' | 'vips' | 'topology' | 'addresses' | 'namespaces';
export const WATCH_KINDS: readonly WatchKind[] = [
  'blocks',
  'hosts',
  'policies',
  'vips',
  'topology',
  'addresses',
  'namespaces',
];

/**
 * One change on a watch stream. `revision` is the store revision of the change; a client
 * resumes after a reconnect with `?revision=<last seen + 1>`. `value` is the object's view
 * (BlockView, HostView, Policy, …) for `put`, `null` for `delete`.
 */
export interface WatchEvent {
  revision: number;
  kind: WatchKind;
  type: 'put' | 'delete';
  /**
   * The object's identity: block CIDR, host name, policy id, VIP name, 'topology', address
   * name, namespace name.
   */
  id: string;
  value: unknown;
}

export interface WatchHandle {
  close(): void;
}

export interface RomanaService {
  /** True once the service has loaded its state and can serve requests. */
  ready(): boolean;
  /** Whether the store can take writes now (`/readyz` fails while it cannot); absent: it can. */
  storeHealth?(): StoreHealth;
  /** Store-wide revision of the state this replica has applied. */
  revision(): number;

  listNetworks(): NetworkView[];
  listBlocks(): BlocksView;
  /** Throws NotFound for an unknown network. */
  listNetworkBlocks(network: string): BlocksView;

  /** Allocates; with `pod`, links the address to that pod in the same transaction. */
  allocate(req: AllocationRequest & { pod?: PodRef }): Promise<Address>;
  /** Releases by name, or by IP when no name matches; the pod link goes with it. */
  release(nameOrIp: string): Promise<Address>;
  getAddress(nameOrIp: string): Address;
  listAddresses(filter?: { host?: string }): Address[];
  /** Sets or replaces the pod link of an existing address (NotFound: no such address). */
  setAddressPod(name: string, pod: PodInput): Promise<Address>;
  /** Removes the pod link of an address (NotFound: no such address). */
  clearAddressPod(name: string): Promise<Address>;

  /** Namespaces sorted by name. */
  listNamespaces(): Namespace[];
  /** Throws NotFound for an unknown name. */
  getNamespace(name: string): Namespace;
  /** Creates or replaces a namespace's labels. */
  putNamespace(name: string, labels: Record<string, string>): Promise<Namespace>;
  deleteNamespace(name: string): Promise<void>;

  listHosts(): { hosts: ManagedHostView[]; revision: number };
  getHost(name: string): ManagedHostView<HostDetailView>;
  addHost(req: {
    name?: unknown;
    ip?: unknown;
    ip6?: unknown;
    tags?: unknown;
    agent_port?: unknown;
    k8s_info?: unknown;
    managed_by?: unknown;
  }): Promise<ManagedHostView<HostDetailView>>;
  /** Refuses (Conflict) while the host holds addresses unless `force`, which releases them. */
  removeHost(name: string, opts: { force: boolean }): Promise<RemovedHost>;
  /** Replaces tags and/or k8s_info (a field left out is kept, null clears it). */
  patchHost(
    name: string,
    patch: { tags?: unknown; k8s_info?: unknown },
  ): Promise<ManagedHostView<HostDetailView>>;

  getTopology(): TopologyUpdateRequest;
  updateTopology(doc: unknown): Promise<TopologyUpdateResult>;
  /**
   * What `updateTopology(doc)` would do, computed by the same checks and engine update on a
   * copy of the live state; writes nothing. Throws the errors `updateTopology` would.
   */
  previewTopology(doc: unknown): TopologyPreviewState;

  listBlackouts(): BlackoutView[];
  addBlackout(cidr: string): Promise<BlackoutView>;
  removeBlackout(cidr: string): Promise<void>;

  listPolicies(): Policy[];
  /** Throws NotFound for an unknown id. */
  getPolicy(id: string): Policy;
  /** Validates (InvalidInput, semantic, with every problem) and stores; overwrites by id. */
  putPolicy(policy: unknown): Promise<Policy>;
  deletePolicy(id: string): Promise<void>;

  /** VIPs sorted by name. */
  listVips(): Vip[];
  /** Throws NotFound for an unknown name. */
  getVip(name: string): Vip;
  /**
   * Creates or replaces a VIP. InvalidInput names each bad field (the host must be known, the
   * address outside every Romana network); AlreadyExists when another VIP holds the address.
   */
  putVip(name: string, input: VipInput): Promise<Vip>;
  deleteVip(name: string): Promise<void>;

  /**
   * Streams changes of the given kinds from `fromRevision` (inclusive); with no revision,
   * first the current state as `put` events, then changes. A revision older than the
   * retained history fails with a `Compacted` error.
   */
  watch(
    kinds: readonly WatchKind[],
    fromRevision: number | undefined,
    onEvent: (e: WatchEvent) => void,
    onError: (err: Error) => void,
  ): WatchHandle;

  close(): Promise<void>;
}
