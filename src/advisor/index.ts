/** The topology advisor: route and address figures for a topology, computed by the real engine. */
export { simulate, withBlockMask } from './simulate.ts';
export { checkLimits, LIMITS, API_LIMITS, tooMuchWork } from './limits.ts';
export { Fabric } from './fabric.ts';
export { routeReport, spread } from './routes.ts';
export { blocksFor, podsPerHostCapacity } from './capacity.ts';
export type * from './types.ts';
export { topologyPreview } from './dry-run.ts';
export type { TopologyPreview, GroupChange } from './dry-run.ts';
