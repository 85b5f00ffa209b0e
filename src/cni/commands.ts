/**
 * ADD, DEL, CHECK, STATUS and GC. Each takes parsed input and the I/O seams, and either
 * resolves (with the result to print, for ADD) or throws a CniError.
 */
import { statSync } from 'node:fs';
import type { CniEnv, NetConf } from './config.ts';
import { containerKeyOf, deriveNames, type Names } from './config.ts';
import { CniCode, CniError } from './errors.ts';
import type { Exec } from '../exec.ts';
import { hostCidr } from '../net/addr.ts';
import { podTag, readKubeconfig } from './k8s.ts';
import { dnsLabelProblem, dnsSubdomainProblem, uidProblem } from '../server/state/k8s-names.ts';
import type { Log } from './log.ts';
import { addDiverts, removeDiverts } from './policy.ts';
import { addressesFromPrevResult, formatResult, type CniResult } from './result.ts';
import { ipsOf, type Romanad, type RomanadAddress } from './romanad.ts';
import {
  hostVethExists,
  inspect,
  randomMac,
  routeDevOf,
  unwire,
  wire,
  type WirePlan,
} from './wire.ts';

export interface Deps {
  api: Romanad;
  exec: Exec;
  log: Log;
}

/**
 * The pod's segment: its `segment_label_name` label (or annotation) read from Kubernetes when
 * a kubeconfig is configured and the pod is known; `default` otherwise.
 */
async function segmentOf(conf: NetConf, pod: Names['pod']): Promise<string> {
  if (!conf.kubernetesConfig || !pod) return 'default';
  const access = await readKubeconfig(conf.kubernetesConfig);
  return (await podTag(access, pod, conf.segmentLabelName, conf.useAnnotations)) ?? 'default';
}

/**
 * The pod the address is for, sent with the allocation so that romanad links them in the same
 * transaction: K8S_POD_NAMESPACE, K8S_POD_NAME and K8S_POD_UID of CNI_ARGS. Left out when the
 * runtime gave none, or names that are not Kubernetes names (then not from Kubernetes).
 */
export function podOf(
  pod: Names['pod'],
  uid: string | undefined,
): { pod?: { namespace: string; name: string; uid?: string } } {
  if (!pod || dnsLabelProblem(pod.namespace) || dnsSubdomainProblem(pod.name)) return {};
  const link = { namespace: pod.namespace, name: pod.name };
  return { pod: uid === undefined || uidProblem(uid) ? link : { ...link, uid } };
}

/**
 * ADD: finds or allocates the container's address, wires the pod, installs divert rules with
 * `use_policy`. A repeated ADD reuses the address it finds and never releases it; on failure an
 * address allocated by this call is released and whatever was made is removed.
 */
export async function cmdAdd(conf: NetConf, env: CniEnv, d: Deps): Promise<CniResult> {
  const names = deriveNames(env);
  try {
    statSync(env.netns);
  } catch {
    throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS: ${env.netns} does not exist`);
  }
  const { ips, allocated } = await addressesFor(conf, env, names, d);
  const plan: WirePlan = {
    hostVeth: names.hostVeth,
    owner: names.owner,
    legacyHostVeth: names.legacyHostVeth,
    ifname: env.ifname,
    netns: env.netns,
    ips,
    gatewayIp: conf.gatewayIp,
    gatewayIp6: conf.gatewayIp6,
    mtu: conf.mtu,
    hostMac: randomMac(),
    podMac: randomMac(),
  };
  try {
    await wire(d.exec, plan);
    if (conf.usePolicy) {
      if (!allocated) await removeDiverts(d.exec, plan.hostVeth);
      const families = [...new Set(ips.map((ip) => hostCidr(ip).family))];
      await addDiverts(d.exec, plan.hostVeth, families).catch(async (err: unknown) => {
        await unwire(d.exec, plan.hostVeth);
        throw err;
      });
    }
  } catch (err) {
    if (allocated) {
      await d.api.release(names.addressName).catch((e: unknown) => {
        d.log(`rollback: releasing ${names.addressName} failed: ${String(e)}`);
      });
    }
    const shown = ips.join(' ');
    d.log(`failed, ${allocated ? `released ${shown}` : `kept ${shown}`}: ${describe(err)}`);
    throw err;
  }
  d.log(`${names.addressName} ${ips.join(' ')} on ${plan.hostVeth}`);
  return formatResult({ ...plan, netns: env.netns }, conf.cniVersion);
}

/**
 * The container's addresses (every family, IPv4 first): those romanad already has under its
 * name (a repeated ADD), else a new allocation; `allocated` tells which.
 */
async function addressesFor(
  conf: NetConf,
  env: CniEnv,
  names: Names,
  d: Deps,
): Promise<{ ips: string[]; allocated: boolean }> {
  const known = await d.api.getAddress(names.addressName);
  if (known) {
    const ips = ownAddresses(known, conf.hostName);
    d.log(`${names.addressName} already has ${ips.join(' ')}: reusing it`);
    return { ips, allocated: false };
  }
  const ips = await d.api.allocateAll({
    name: names.addressName,
    host: conf.hostName,
    tenant: names.tenant,
    segment: await segmentOf(conf, names.pod),
    ...podOf(names.pod, env.args['K8S_POD_UID']),
  });
  if (ips !== undefined) return { ips, allocated: true };
  // Allocated concurrently by another ADD of the same container: take that one.
  const again = await d.api.getAddress(names.addressName);
  if (!again) throw new CniError(CniCode.TryAgainLater, `${names.addressName} vanished`);
  return { ips: ownAddresses(again, conf.hostName), allocated: false };
}

function ownAddresses(a: RomanadAddress, host: string): string[] {
  if (a.host !== host) {
    throw new CniError(
      CniCode.Romanad,
      `address ${a.name} (${a.ip}) belongs to host ${a.host}, not ${host}`,
      'check romana_host_name in the CNI configuration',
    );
  }
  return ipsOf(a);
}

function describe(err: unknown): string {
  if (err instanceof CniError) return `${err.message}: ${err.details}`;
  return String(err);
}

/**
 * DEL: releases the address (unknown is fine), removes divert rules and the host veth (also
 * one named the old way, `romana-<infra8>`). The local steps always run; when romanad could not
 * release, DEL then fails: code 11 while retrying can help (romanad unreachable, timing out or
 * answering 503), so the runtime calls DEL again instead of leaking the address.
 */
export async function cmdDel(conf: NetConf, env: CniEnv, d: Deps): Promise<void> {
  const names = deriveNames(env);
  const release = d.api.release(names.addressName).then(
    (known) => ({ known, err: undefined }),
    (err: unknown) => ({ known: false, err }),
  );
  // Divert rules name the veth, so they go first; one `ip` call removes both names.
  const local = async (): Promise<void> => {
    if (conf.usePolicy) {
      await removeDiverts(d.exec, names.hostVeth);
      if (await hostVethExists(d.exec, names.legacyHostVeth)) {
        await removeDiverts(d.exec, names.legacyHostVeth);
      }
    }
    await unwire(d.exec, names.hostVeth, names.legacyHostVeth);
  };
  // Independent of each other: run together (deleting a veth waits on the kernel for ~tens of ms).
  const [released] = await Promise.all([release, local()]);
  if (released.err !== undefined) {
    const e = released.err;
    const cause = e instanceof CniError ? e : new CniError(CniCode.Internal, String(e));
    d.log(`DEL ${names.addressName}: release failed: ${describe(cause)}`);
    throw new CniError(
      cause.code,
      `could not release ${names.addressName}: ${cause.message}`,
      cause.details,
      { cause: e },
    );
  }
  d.log(`${names.addressName} ${released.known ? 'released' : 'was not allocated'}; deleted`);
}

/** CHECK: the address is still the container's and the wiring is as ADD left it. */
export async function cmdCheck(conf: NetConf, env: CniEnv, d: Deps): Promise<void> {
  if (conf.cniVersion === '0.3.0' || conf.cniVersion === '0.3.1') {
    throw new CniError(CniCode.IncompatibleVersion, `CHECK needs cniVersion 0.4.0 or later`);
  }
  const names = deriveNames(env);
  const ips = addressesFromPrevResult(conf.prevResult);
  if (ips.length === 0) {
    throw new CniError(CniCode.InvalidConfig, 'prevResult: no pod address (/32 or /128) to check');
  }
  const known = await d.api.getAddress(names.addressName);
  const problems: string[] = [];
  if (!known) problems.push(`romanad has no address ${names.addressName}`);
  else if (ipsOf(known).join(' ') !== ips.join(' ')) {
    problems.push(
      `romanad gives ${names.addressName} ${ipsOf(known).join(' ')}, not ${ips.join(' ')}`,
    );
  }
  problems.push(
    ...(await inspect(d.exec, {
      hostVeth: names.hostVeth,
      legacyHostVeth: names.legacyHostVeth,
      ifname: env.ifname,
      netns: env.netns,
      ips,
      gatewayIp: conf.gatewayIp,
      gatewayIp6: conf.gatewayIp6,
    })),
  );
  if (problems.length > 0) {
    throw new CniError(
      CniCode.CheckFailed,
      `${names.addressName} is not as ADD left it`,
      problems.join('; '),
    );
  }
}

function needs110(conf: NetConf, command: string): void {
  if (conf.cniVersion !== '1.1.0') {
    throw new CniError(CniCode.IncompatibleVersion, `${command} needs cniVersion 1.1.0`);
  }
}

/** STATUS: ready when romanad answers and knows this host; otherwise code 50. */
export async function cmdStatus(conf: NetConf, d: Deps): Promise<void> {
  needs110(conf, 'STATUS');
  try {
    await d.api.checkHost(conf.hostName);
  } catch (err) {
    const e = err instanceof CniError ? err : new CniError(CniCode.Internal, String(err));
    throw new CniError(CniCode.NotAvailable, `romana cannot add pods: ${e.message}`, e.details);
  }
}

/**
 * GC: releases this host's addresses made by this plugin whose container is not among
 * `cni.dev/valid-attachments`, with their veths and divert rules. Addresses whose names this
 * plugin does not make are never touched. Keeps going past failures, then reports them.
 */
export async function cmdGc(conf: NetConf, d: Deps): Promise<void> {
  needs110(conf, 'GC');
  const valid = conf.validAttachments;
  if (!valid) throw new CniError(CniCode.InvalidConfig, 'GC needs cni.dev/valid-attachments');
  const plain = new Set(valid.map((a) => `${a.containerID.slice(0, 8)}.${a.ifname}`));
  const keys = new Set(valid.map((a) => a.containerID.slice(0, 8)));
  const failures: string[] = [];
  for (const a of await d.api.addressesOn(conf.hostName)) {
    const key = containerKeyOf(a.name);
    if (key === undefined || keys.has(key) || plain.has(a.name)) continue;
    try {
      // The veth is found by the address's host route (its name hashes the full container id
      // and the interface, which the address name does not carry), read before the address is
      // released and can go to another pod.
      const dev = await routeDevOf(d.exec, a.ip);
      const veths = [`romana-${key}`];
      if (dev && /^romana-[0-9a-v]{8}$/.test(dev) && dev !== veths[0]) veths.push(dev);
      await d.api.release(a.name);
      if (conf.usePolicy) for (const v of veths) await removeDiverts(d.exec, v);
      await unwire(d.exec, ...veths);
      d.log(`GC released ${a.name} ${a.ip}`);
    } catch (err) {
      failures.push(`${a.name}: ${describe(err)}`);
    }
  }
  if (failures.length > 0) {
    throw new CniError(
      CniCode.TryAgainLater,
      'GC could not release every stale address',
      failures.join('; '),
    );
  }
}
