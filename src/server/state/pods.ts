/**
 * What romanad knows of Kubernetes: the pod each address belongs to (`pods/<address name>`,
 * written in the same transaction as the allocation, replaced by `PUT /addresses/{name}/pod`,
 * deleted with the address) and the namespaces with their labels (`namespaces/<name>`), so
 * that policies can select pods and namespaces by label. The allocation path does not read
 * these keys; an address without a pod is stored exactly as before.
 */
import { invalidInput, isRomanaError, RomanaError } from '../../errors.ts';
import type { AddressView } from '../../ipam/index.ts';
import type { ServiceCore } from './core.ts';
import {
  dnsLabelProblem,
  dnsSubdomainProblem,
  labelKeyProblem,
  labelValueProblem,
  portNameProblem,
  uidProblem,
} from './k8s-names.ts';
import { addressKey, namespaceKey, podKey } from './keys.ts';
import type { Address, ContainerPort, Namespace, PodInput, PodLink, PodRef } from './service.ts';
import { TxnSet, type Decision, type Unchanged, type ViewEvent } from './txn-runner.ts';

/** Most container ports a pod link may list. */
export const MAX_PORTS = 256;
/** Most labels a pod or a namespace may carry here. */
export const MAX_LABELS = 256;

type Problems = string[];

function str(
  problems: Problems,
  field: string,
  v: unknown,
  check: (s: string) => string | undefined,
): string {
  if (typeof v !== 'string') {
    problems.push(`${field}: expected a string, got ${JSON.stringify(v) ?? 'nothing'}`);
    return '';
  }
  const bad = check(v);
  if (bad !== undefined) problems.push(`${field}: ${JSON.stringify(v)} ${bad}`);
  return v;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownFields(
  problems: Problems,
  field: string,
  o: Record<string, unknown>,
  known: string[],
): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) problems.push(`${field}.${k}: unknown field`);
  }
}

/** Checks labels by the Kubernetes label rules; answers them with their keys sorted. */
export function checkLabels(problems: Problems, field: string, v: unknown): Record<string, string> {
  if (v === undefined) return {};
  if (!isObj(v)) {
    problems.push(`${field}: expected an object of strings, got ${JSON.stringify(v)}`);
    return {};
  }
  const keys = Object.keys(v).sort();
  if (keys.length > MAX_LABELS)
    problems.push(`${field}: at most ${MAX_LABELS} labels (has ${keys.length})`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    const badKey = labelKeyProblem(k);
    if (badKey !== undefined) problems.push(`${field} key ${JSON.stringify(k)}: ${badKey}`);
    out[k] = str(problems, `${field}[${JSON.stringify(k)}]`, v[k], labelValueProblem);
  }
  return out;
}

function checkPorts(problems: Problems, field: string, v: unknown): ContainerPort[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    problems.push(`${field}: expected a list of ports, got ${JSON.stringify(v)}`);
    return [];
  }
  if (v.length > MAX_PORTS) problems.push(`${field}: at most ${MAX_PORTS} ports (has ${v.length})`);
  return v.slice(0, MAX_PORTS + 1).map((p: unknown, i) => {
    const f = `${field}[${i}]`;
    if (!isObj(p)) {
      problems.push(`${f}: expected { name?, port, protocol }, got ${JSON.stringify(p)}`);
      return { port: 0, protocol: 'TCP' };
    }
    unknownFields(problems, f, p, ['name', 'port', 'protocol']);
    const port = p['port'];
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
      problems.push(`${f}.port: ${JSON.stringify(port)} is not a port number (1-65535)`);
    }
    const protocol = p['protocol'];
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') {
      problems.push(`${f}.protocol: ${JSON.stringify(protocol)} is not one of TCP, UDP, SCTP`);
    }
    const named =
      p['name'] === undefined
        ? {}
        : { name: str(problems, `${f}.name`, p['name'], portNameProblem) };
    return { ...named, port: port as number, protocol: protocol as ContainerPort['protocol'] };
  });
}

function checkRef(problems: Problems, field: string, v: Record<string, unknown>): PodRef {
  const ref: PodRef = {
    namespace: str(problems, `${field}.namespace`, v['namespace'], dnsLabelProblem),
    name: str(problems, `${field}.name`, v['name'], dnsSubdomainProblem),
  };
  if (v['uid'] !== undefined) ref.uid = str(problems, `${field}.uid`, v['uid'], uidProblem);
  return ref;
}

function refused(problems: Problems, resourceId?: string): RomanaError {
  return invalidInput(problems.join('\n'), {
    resourceType: 'address',
    ...(resourceId === undefined ? {} : { resourceId }),
  });
}

/**
 * The pod link of `POST /address` (`field`: where it sits in the body): namespace, name, uid.
 *
 * @example podRefLink({ namespace: 'default', name: 'web-0' }) // { namespace, name, labels: {}, ports: [] }
 */
export function podRefLink(v: unknown, field = 'pod'): PodLink {
  const problems: Problems = [];
  if (!isObj(v))
    throw refused([`${field}: expected { namespace, name, uid? }, got ${JSON.stringify(v)}`]);
  unknownFields(problems, field, v, ['namespace', 'name', 'uid']);
  const link: PodLink = { ...checkRef(problems, field, v), labels: {}, ports: [] };
  if (problems.length > 0) throw refused(problems);
  return link;
}

/** The body of `PUT /addresses/{name}/pod`, checked; every problem named. */
export function podInputLink(v: unknown, address: string, field = 'body'): PodLink {
  const problems: Problems = [];
  if (!isObj(v)) throw refused([`${field}: expected a pod link object, got ${JSON.stringify(v)}`]);
  unknownFields(problems, field, v, ['namespace', 'name', 'uid', 'labels', 'ports']);
  const link: PodLink = {
    ...checkRef(problems, field, v),
    labels: checkLabels(problems, `${field}.labels`, v['labels']),
    ports: checkPorts(problems, `${field}.ports`, v['ports']),
  };
  if (problems.length > 0) throw refused(problems, address);
  return link;
}

/** The API's view of an address: the engine's, with its pod link when it has one. */
export function addressOf(core: ServiceCore, view: AddressView): Address {
  const pod = core.state.pods.get(view.name);
  return pod === undefined ? view : { ...view, pod };
}

/** An `addresses` watch event for the address as the engine holds it now (delete if gone). */
export function addressEvent(core: ServiceCore, name: string): ViewEvent {
  let view: AddressView | undefined;
  try {
    view = core.ipam.getAddress(name);
  } catch {
    view = undefined;
  }
  return view === undefined || view.name !== name
    ? { kind: 'addresses', type: 'delete', id: name, value: null }
    : { kind: 'addresses', type: 'put', id: name, value: addressOf(core, view) };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class K8sOps {
  readonly core: ServiceCore;

  constructor(core: ServiceCore) {
    this.core = core;
  }

  /** The address by its name (not its IP); NotFound otherwise. */
  address(name: string): AddressView {
    let view: AddressView | undefined;
    try {
      view = this.core.ipam.getAddress(name);
    } catch (err) {
      if (!isRomanaError(err, 'NotFound')) throw err;
    }
    if (view === undefined || view.name !== name) {
      throw new RomanaError('NotFound', `No address named ${name}`, {
        resourceType: 'address',
        resourceId: name,
      });
    }
    return view;
  }

  async setPod(name: string, input: PodInput): Promise<Address> {
    this.core.checkWritable();
    const link = podInputLink(input, name);
    return this.#withCatchUp(name, () =>
      this.core.rw.read(() =>
        this.core.runner.run(`linking address ${name} to pod ${link.namespace}/${link.name}`, () =>
          this.#decideLink(name, link),
        ),
      ),
    );
  }

  async clearPod(name: string): Promise<Address> {
    this.core.checkWritable();
    return this.#withCatchUp(name, () =>
      this.core.rw.read(() =>
        this.core.runner.run(`unlinking address ${name} from its pod`, () =>
          this.#decideLink(name, null),
        ),
      ),
    );
  }

  /** An address another replica allocated a moment ago may not be known here yet. */
  async #withCatchUp(name: string, run: () => Promise<Address>): Promise<Address> {
    const key = addressKey(name);
    const seen = this.core.seenRevision(key);
    try {
      return await run();
    } catch (err) {
      if (!isRomanaError(err, 'NotFound') || !(await this.core.catchUp(key, seen))) throw err;
      return run();
    }
  }

  /** Writes (or deletes, `link` null) the pod key, compared with the address key. */
  #decideLink(name: string, link: PodLink | null): Decision<Address> | Unchanged<Address> {
    const core = this.core;
    const view = this.address(name);
    const before = core.state.pods.get(name);
    if (link === null ? before === undefined : same(before, link)) {
      return { unchanged: addressOf(core, view) };
    }
    const txn = new TxnSet().read(core, addressKey(name)).read(core, podKey(name));
    if (link === null) txn.delete(podKey(name));
    else txn.put(podKey(name), link);
    return {
      txn,
      committed: () => {
        if (link === null) core.state.pods.delete(name);
        else core.state.pods.set(name, link);
        const value = addressOf(core, view);
        return { value, events: [{ kind: 'addresses', type: 'put', id: name, value }] };
      },
    };
  }

  listNamespaces(): Namespace[] {
    return [...this.core.state.namespaces.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  getNamespace(name: string): Namespace {
    const ns = this.core.state.namespaces.get(name);
    if (ns === undefined) {
      throw new RomanaError('NotFound', `No namespace named ${name}`, {
        resourceType: 'namespace',
        resourceId: name,
      });
    }
    return ns;
  }

  async putNamespace(name: string, labels: unknown): Promise<Namespace> {
    this.core.checkWritable();
    const problems: Problems = [];
    str(problems, 'name', name, dnsLabelProblem);
    const ns: Namespace = { name, labels: checkLabels(problems, 'body.labels', labels) };
    if (problems.length > 0) {
      throw invalidInput(problems.join('\n'), { resourceType: 'namespace', resourceId: name });
    }
    const core = this.core;
    return core.rw.read(() =>
      core.runner.run(
        `writing namespace ${name}`,
        (): Decision<Namespace> | Unchanged<Namespace> => {
          const before = core.state.namespaces.get(name);
          if (same(before, ns)) return { unchanged: ns };
          return {
            txn: new TxnSet().read(core, namespaceKey(name)).put(namespaceKey(name), ns),
            committed: () => {
              core.state.namespaces.set(name, ns);
              return {
                value: ns,
                events: [{ kind: 'namespaces', type: 'put', id: name, value: ns }],
              };
            },
          };
        },
      ),
    );
  }

  async deleteNamespace(name: string): Promise<void> {
    this.core.checkWritable();
    const core = this.core;
    await core.rw.read(() =>
      core.runner.run(`deleting namespace ${name}`, (): Decision<void> => {
        this.getNamespace(name);
        return {
          txn: new TxnSet().read(core, namespaceKey(name)).delete(namespaceKey(name)),
          committed: () => {
            core.state.namespaces.delete(name);
            return {
              value: undefined,
              events: [{ kind: 'namespaces', type: 'delete', id: name, value: null }],
            };
          },
        };
      }),
    );
  }
}
