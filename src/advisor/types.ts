/**
 * The advisor's input and report, as plain JSON (snake_case, like the rest of the API).
 */
import type { TopologyUpdateRequest } from '../ipam/index.ts';

/** A generated topology: `zones` x `racks` groups with `hosts` written into each rack. */
export interface ShapeInput {
  zones: number;
  racks: number;
  /** Hosts per rack. */
  hosts: number;
  /** The pod network, e.g. `10.0.0.0/8`. */
  cidr: string;
  /** Give every host a group of its own inside its rack (the rack's ToR then sees one route per host). */
  host_groups?: boolean;
}

/** Pods per host: a number, or a distribution drawn with the seed. */
export type PodsInput =
  | number
  | { distribution: 'uniform'; min: number; max: number }
  | {
      distribution: 'skewed';
      /** Average pods per host; the total is `mean` x hosts. */
      mean: number;
      /** Zipf exponent: host of rank r gets a share proportional to 1 / r^exponent (default 1). */
      exponent?: number;
    }
  | {
      distribution: 'given';
      /** Pods per host by name (a host not listed runs none), e.g. a live cluster's counts. */
      per_host: Record<string, number>;
    };

export interface ChurnInput {
  /** Rounds of stopping pods and starting as many again. */
  rounds: number;
  /** Share of the running pods stopped in each round, in (0, 1]. */
  fraction: number;
}

/** A host to register after the topology (for groups that place hosts by tags). */
export interface HostInput {
  name: string;
  ip: string;
  tags?: Record<string, string>;
}

/** Which depth of the group tree (0 = the network) holds the ToRs and the spines. */
export interface TierInput {
  tor: number;
  spine: number;
}

export interface SimulationInput {
  /** A topology document, as `POST /topology` takes it. Exactly one of `topology` and `shape`. */
  topology?: TopologyUpdateRequest;
  shape?: ShapeInput;
  hosts?: HostInput[];
  pods: PodsInput;
  churn?: ChurnInput;
  /** Owners (`tenant:segment`) the pods of each host are spread over, round-robin. */
  segments?: Array<{ tenant: string; segment: string }>;
  /** Block sizes to compare (prefix lengths); default: the topology's own. */
  block_masks?: number[];
  tiers?: TierInput;
  /**
   * Every host announces its whole host group (ECMP at the ToR, the route publisher's option)
   * instead of its blocks.
   */
  ecmp?: boolean;
  /** Seed of the distributions and of churn (default 1). */
  seed?: number;
}

/** Smallest, mean and largest over the devices of a tier. */
export interface Spread {
  min: number;
  avg: number;
  max: number;
  /** Sum over the tier's devices. */
  total: number;
}

/** Routes a tier's devices hold: Romana's aggregation next to the two baselines. */
export interface TierRoutes {
  /** How many devices the tier has (hosts, ToRs, spines, cores). */
  devices: number;
  romana: Spread;
  /** One route per block in use (Calico's blocks). */
  per_block: Spread;
  /** One route per host (a node podCIDR each). */
  per_host: Spread;
}

export interface RouteReport {
  host: TierRoutes;
  tor: TierRoutes;
  spine: TierRoutes;
  /** The tier above the spines; `null` when the spines are the top (one spine group). */
  core: TierRoutes | null;
}

export interface AddressReport {
  pods: number;
  blocks: number;
  /** Addresses in blocks in use (`blocks` x block size). */
  block_addresses: number;
  /** Addresses of blocks in use that no pod holds. */
  wasted: number;
  /** `wasted` / `block_addresses`, 0 when no block is in use. */
  wasted_ratio: number;
  /** Blocks held per host. */
  blocks_per_host: Spread;
}

export interface CapacityReport {
  /** Largest pod count every host can reach at once before the first group runs out. */
  pods_per_host: number;
  /** The group that runs out first, its CIDR, hosts and blocks. */
  group: string;
  cidr: string;
  hosts: number;
  blocks: number;
}

/** Route updates: one per table changed, summed over the tier's devices. */
export interface TierUpdates {
  romana: number;
  per_block: number;
  /** Always 0: a node's podCIDR never changes (it is fixed and may run out instead). */
  per_host: number;
}

export interface ChurnReport {
  rounds: number;
  pods_stopped: number;
  pods_started: number;
  blocks_acquired: number;
  blocks_released: number;
  route_updates: { host: TierUpdates; tor: TierUpdates; spine: TierUpdates; core: TierUpdates };
}

export interface BlockSizeReport {
  block_mask: number;
  block_size: number;
  /** Set when this block size cannot be used (the topology refuses it, or pods do not fit). */
  error?: string;
  routes?: RouteReport;
  addresses?: AddressReport;
  capacity?: CapacityReport;
  /** Blocks acquired by the initial placement of pods (each one a route update without aggregation). */
  initial_blocks?: number;
  churn?: ChurnReport;
}

export interface SimulationReport {
  hosts: number;
  pods: number;
  segments: number;
  seed: number;
  tiers: { tor: number | null; spine: number | null };
  block_sizes: BlockSizeReport[];
}
