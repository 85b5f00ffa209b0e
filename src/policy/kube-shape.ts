/**
 * Reading and checking a policy in Kubernetes form (kube-model.ts): closed at every depth,
 * every problem named by its field path, the result in normal form (`policyTypes` defaulted as
 * the API does, `ingress`/`egress`/`from`/`to`/`ports` always present, protocols explicit,
 * CIDRs canonical).
 */
import type { Cidr } from '../net/addr.ts';
import { parsePolicyCidr } from './cidr.ts';
import { nameProblem, textProblem } from '../names.ts';
import type {
  IpBlock,
  KubeEgressRule,
  KubeIngressRule,
  KubePeer,
  KubePolicy,
  KubePort,
  KubeProtocol,
  LabelRequirement,
  LabelSelector,
  PolicyType,
  SelectorOperator,
} from './kube-model.ts';
import { checkKeys, describe, isJsonObject, joinPath, type Problem } from './shape.ts';

type Json = Record<string, unknown>;

const POLICY_KEYS = [
  'id',
  'description',
  'namespace',
  'podSelector',
  'policyTypes',
  'ingress',
  'egress',
];
const SELECTOR_KEYS = ['matchLabels', 'matchExpressions'];
const REQUIREMENT_KEYS = ['key', 'operator', 'values'];
const PEER_KEYS = ['podSelector', 'namespaceSelector', 'ipBlock'];
const PORT_KEYS = ['protocol', 'port', 'endPort'];
const OPERATORS: readonly SelectorOperator[] = ['In', 'NotIn', 'Exists', 'DoesNotExist'];
const PROTOCOLS: readonly KubeProtocol[] = ['TCP', 'UDP', 'SCTP'];

/** A label name (the part after an optional `prefix/`) or value: 63 characters at most. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** IANA service name: 15 characters, lower-case letters, digits and inner single dashes. */
const PORT_NAME = /^[a-z0-9]([a-z0-9]|-(?!-))*$/;

/** Why a label key is not one, or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
    return `label key prefix must be a DNS subdomain, got '${prefix}'`;
  }
  if (!LABEL_NAME.test(name)) {
    return `label key must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, got '${name}'`;
  }
  return undefined;
}

/** Why a label value is not one, or undefined ('' is a value). */
export function labelValueProblem(value: string): string | undefined {
  if (value === '' || LABEL_NAME.test(value)) return undefined;
  return `label value must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, got '${value}'`;
}

class KubeReader {
  readonly problems: Problem[] = [];

  problem(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  object(v: unknown, path: string): Json | undefined {
    if (isJsonObject(v)) return v;
    this.problem(path, `must be an object, got ${describe(v)}`);
    return undefined;
  }

  /** An optional array; absent or null is `[]`, anything else not an array is reported. */
  list<T>(
    obj: Json,
    key: string,
    path: string,
    item: (v: unknown, p: string) => T | undefined,
  ): T[] {
    const v = obj[key];
    if (v === undefined || v === null) return [];
    const at = joinPath(path, key);
    if (!Array.isArray(v)) {
      this.problem(at, `must be an array, got ${describe(v)}`);
      return [];
    }
    const out: T[] = [];
    v.forEach((x, i) => {
      const t = item(x, `${at}[${i}]`);
      if (t !== undefined) out.push(t);
    });
    return out;
  }

  policy(obj: Json): KubePolicy {
    checkKeys(obj, POLICY_KEYS, '', this.problems, true);
    const id = typeof obj['id'] === 'string' ? obj['id'] : '';
    const idProblem = nameProblem(obj['id'], 'name');
    if (idProblem !== undefined)
      this.problem('id', obj['id'] === undefined ? 'is required' : idProblem);
    const namespace = typeof obj['namespace'] === 'string' ? obj['namespace'] : '';
    const nsProblem = nameProblem(obj['namespace'], 'tenant');
    if (nsProblem !== undefined) {
      this.problem('namespace', obj['namespace'] === undefined ? 'is required' : nsProblem);
    }
    const policy: KubePolicy = {
      id,
      namespace,
      podSelector: this.selector(obj['podSelector'], 'podSelector') ?? {},
      policyTypes: [],
      ingress: this.list(obj, 'ingress', '', (v, p) => this.ingressRule(v, p)),
      egress: this.list(obj, 'egress', '', (v, p) => this.egressRule(v, p)),
    };
    policy.policyTypes = this.policyTypes(obj, policy);
    if (obj['description'] !== undefined && obj['description'] !== null) {
      const problem = textProblem(obj['description']);
      if (problem !== undefined) this.problem('description', problem);
      else if (obj['description'] !== '') policy.description = obj['description'] as string;
    }
    return policy;
  }

  /** As the API defaults them: `Ingress` always, `Egress` when there are egress rules. */
  policyTypes(obj: Json, policy: KubePolicy): PolicyType[] {
    if (obj['policyTypes'] === undefined || obj['policyTypes'] === null) {
      return (policy.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
    }
    const types = this.list(obj, 'policyTypes', '', (v, p) => {
      if (v === 'Ingress' || v === 'Egress') return v;
      this.problem(p, `must be 'Ingress' or 'Egress', got ${describe(v)}`);
      return undefined;
    });
    if (new Set(types).size !== types.length) this.problem('policyTypes', 'lists a type twice');
    if (Array.isArray(obj['policyTypes']) && obj['policyTypes'].length === 0) {
      this.problem('policyTypes', "must not be empty (leave it out for the API's default)");
    }
    return (['Ingress', 'Egress'] as const).filter((t) => types.includes(t));
  }

  selector(v: unknown, path: string): LabelSelector | undefined {
    if (v === undefined && path === 'podSelector') {
      this.problem(path, 'is required ({} selects every pod of the namespace)');
      return undefined;
    }
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, SELECTOR_KEYS, path, this.problems, true);
    const out: LabelSelector = {};
    const labels = obj['matchLabels'];
    if (labels !== undefined && labels !== null) {
      const m = this.object(labels, joinPath(path, 'matchLabels'));
      if (m !== undefined) out.matchLabels = this.labels(m, joinPath(path, 'matchLabels'));
    }
    const exprs = this.list(obj, 'matchExpressions', path, (e, p) => this.requirement(e, p));
    if (exprs.length > 0) out.matchExpressions = exprs;
    return out;
  }

  labels(m: Json, path: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(m)) {
      const at = `${path}["${k}"]`;
      const keyProblem = labelKeyProblem(k);
      if (keyProblem !== undefined) this.problem(at, keyProblem);
      if (typeof val !== 'string') this.problem(at, `must be a string, got ${describe(val)}`);
      else {
        const valueProblem = labelValueProblem(val);
        if (valueProblem !== undefined) this.problem(at, valueProblem);
        out[k] = val;
      }
    }
    return out;
  }

  requirement(v: unknown, path: string): LabelRequirement | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, REQUIREMENT_KEYS, path, this.problems, true);
    const key = obj['key'];
    if (typeof key !== 'string')
      this.problem(joinPath(path, 'key'), `must be a string, got ${describe(key)}`);
    else {
      const keyProblem = labelKeyProblem(key);
      if (keyProblem !== undefined) this.problem(joinPath(path, 'key'), keyProblem);
    }
    const op = obj['operator'];
    if (!OPERATORS.includes(op as SelectorOperator)) {
      this.problem(
        joinPath(path, 'operator'),
        `must be one of ${OPERATORS.join(', ')}, got ${describe(op)}`,
      );
      return undefined;
    }
    const values = this.list(obj, 'values', path, (x, p) => {
      if (typeof x === 'string') {
        const problem = labelValueProblem(x);
        if (problem !== undefined) this.problem(p, problem);
        return x;
      }
      this.problem(p, `must be a string, got ${describe(x)}`);
      return undefined;
    });
    const needsValues = op === 'In' || op === 'NotIn';
    if (needsValues && values.length === 0) {
      this.problem(joinPath(path, 'values'), `must not be empty with operator ${String(op)}`);
    }
    if (!needsValues && values.length > 0) {
      this.problem(joinPath(path, 'values'), `must be empty with operator ${String(op)}`);
    }
    const r: LabelRequirement = { key: String(key), operator: op as SelectorOperator };
    if (needsValues) r.values = values;
    return r;
  }

  ingressRule(v: unknown, path: string): KubeIngressRule | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, ['from', 'ports'], path, this.problems, true);
    return {
      from: this.list(obj, 'from', path, (x, p) => this.peer(x, p)),
      ports: this.list(obj, 'ports', path, (x, p) => this.port(x, p)),
    };
  }

  egressRule(v: unknown, path: string): KubeEgressRule | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, ['to', 'ports'], path, this.problems, true);
    return {
      to: this.list(obj, 'to', path, (x, p) => this.peer(x, p)),
      ports: this.list(obj, 'ports', path, (x, p) => this.port(x, p)),
    };
  }

  peer(v: unknown, path: string): KubePeer | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, PEER_KEYS, path, this.problems, true);
    const out: KubePeer = {};
    for (const key of ['podSelector', 'namespaceSelector'] as const) {
      if (obj[key] === undefined || obj[key] === null) continue;
      const s = this.selector(obj[key], joinPath(path, key));
      if (s !== undefined) out[key] = s;
    }
    if (obj['ipBlock'] !== undefined && obj['ipBlock'] !== null) {
      const b = this.ipBlock(obj['ipBlock'], joinPath(path, 'ipBlock'));
      if (b !== undefined) out.ipBlock = b;
      if (obj['podSelector'] != null || obj['namespaceSelector'] != null) {
        this.problem(path, 'ipBlock cannot be combined with podSelector or namespaceSelector');
      }
    }
    if (PEER_KEYS.every((k) => obj[k] === undefined || obj[k] === null)) {
      this.problem(path, 'empty peer: give podSelector, namespaceSelector or ipBlock');
    }
    return out;
  }

  cidr(v: unknown, path: string): Cidr | undefined {
    if (typeof v !== 'string') {
      this.problem(path, `must be a string, got ${describe(v)}`);
      return undefined;
    }
    try {
      return parsePolicyCidr(v, path);
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      this.problem(path, text.startsWith(`${path}: `) ? text.slice(path.length + 2) : text);
      return undefined;
    }
  }

  ipBlock(v: unknown, path: string): IpBlock | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, ['cidr', 'except'], path, this.problems, true);
    const cidr =
      obj['cidr'] === undefined ? undefined : this.cidr(obj['cidr'], joinPath(path, 'cidr'));
    if (obj['cidr'] === undefined) this.problem(joinPath(path, 'cidr'), 'is required');
    const except = this.list(obj, 'except', path, (x, p) => {
      const c = this.cidr(x, p);
      if (c !== undefined && cidr !== undefined && !(cidr.contains(c) && !c.equals(cidr))) {
        this.problem(p, `must be strictly inside ${cidr.toString()}, got ${c.toString()}`);
      }
      return c?.toString();
    });
    if (cidr === undefined) return undefined;
    return except.length > 0 ? { cidr: cidr.toString(), except } : { cidr: cidr.toString() };
  }

  port(v: unknown, path: string): KubePort | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    checkKeys(obj, PORT_KEYS, path, this.problems, true);
    const proto = obj['protocol'] ?? 'TCP';
    if (!PROTOCOLS.includes(proto as KubeProtocol)) {
      this.problem(
        joinPath(path, 'protocol'),
        `must be one of ${PROTOCOLS.join(', ')}, got ${describe(proto)}`,
      );
    }
    const out: KubePort = { protocol: proto as KubeProtocol };
    const port = obj['port'];
    if (typeof port === 'number') {
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        this.problem(
          joinPath(path, 'port'),
          `must be a port number 1-65535 or a port name, got ${port}`,
        );
      } else out.port = port;
    } else if (typeof port === 'string') {
      if (port.length > 15 || !PORT_NAME.test(port) || !/[a-z]/.test(port) || port.endsWith('-')) {
        this.problem(
          joinPath(path, 'port'),
          `must be a port name (at most 15 lower-case letters, digits and inner single '-', with a letter), got '${port}'`,
        );
      } else out.port = port;
    } else if (port !== undefined && port !== null) {
      this.problem(joinPath(path, 'port'), `must be a number or a name, got ${describe(port)}`);
    }
    this.endPort(obj, path, out);
    return out;
  }

  endPort(obj: Json, path: string, out: KubePort): void {
    const end = obj['endPort'];
    if (end === undefined || end === null) return;
    const at = joinPath(path, 'endPort');
    if (typeof end !== 'number' || !Number.isInteger(end) || end < 1 || end > 65535) {
      this.problem(at, `must be a port number 1-65535, got ${describe(end)}`);
    } else if (typeof obj['port'] !== 'number') {
      this.problem(at, 'needs a numeric port (the start of the range)');
    } else if (end < obj['port']) {
      this.problem(at, `must be at least port ${obj['port']}, got ${end}`);
    } else out.endPort = end;
  }
}

/**
 * Reads a policy in Kubernetes form; problems carry field paths (`ingress[0].from[1].ipBlock.cidr`).
 *
 * @example readKubePolicy({ id: 'p', namespace: 'x', podSelector: {} }).problems // []
 */
export function readKubePolicy(input: Json): { policy: KubePolicy; problems: Problem[] } {
  const reader = new KubeReader();
  const policy = reader.policy(input);
  return { policy, problems: reader.problems };
}
