/** The address and prefix types moved to `src/net/addr.ts`, shared beyond IPAM. */
export * from '../net/addr.ts';
