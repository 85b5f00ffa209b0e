/**
 * Throwaway network namespaces for tests: one with a veth pair whose end `v0` holds an address
 * (so that its /24 or /16 is "directly connected"), deleted with everything in it.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export interface TestNetns {
  name: string;
  /** Runs `ip -n <name> …` and returns its output. */
  ip(...args: string[]): string;
  remove(): void;
}

/** Creates namespace `name` with `lo` up and `v0` (holding `address`, a CIDR) up. */
export function createNetns(name: string, address: string): TestNetns {
  execFileSync('ip', ['netns', 'add', name]);
  const ip = (...args: string[]) => execFileSync('ip', ['-n', name, ...args], { encoding: 'utf8' });
  try {
    ip('link', 'set', 'lo', 'up');
    ip('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    ip('addr', 'add', address, 'dev', 'v0');
    ip('link', 'set', 'v0', 'up');
    ip('link', 'set', 'v1', 'up');
  } catch (err) {
    spawnSync('ip', ['netns', 'del', name]);
    throw err;
  }
  return { name, ip, remove: () => void spawnSync('ip', ['netns', 'del', name]) };
}
