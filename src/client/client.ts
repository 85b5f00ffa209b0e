/**
 * A small typed client of romanad's REST API (docs/api.md): one method per route, JSON in and
 * out, errors as `RomanadApiError` (romanad refused) or `RomanadUnreachableError` (no answer).
 * No dependency beyond Node, so the CLI, the agent and the CNI plugin can all use it.
 */
import { RomanadApiError } from './errors.ts';
import { sendJson, type TransportOptions } from './http.ts';
import type {
  Address,
  AllocationRequest,
  Blackout,
  BlockList,
  HostDetail,
  HostList,
  HostPatch,
  Namespace,
  Network,
  NewHost,
  PodInput,
  Policy,
  RemovedHost,
  Topology,
  Vip,
} from './types.ts';

/** Settings of a client: where romanad is, plus transport options (token, CA, timeout). */
export interface ClientOptions extends TransportOptions {
  /** romanad's root URL, e.g. `http://127.0.0.1:9600`. */
  baseUrl: string;
}

/** A request beyond the typed methods: query parameters and a JSON body. */
export interface CallOptions {
  query?: Record<string, string | undefined>;
  body?: unknown;
}

/**
 * Typed client of romanad.
 *
 * @example
 * const c = new RomanadClient({ baseUrl: 'http://127.0.0.1:9600', token: process.env.ROMANA_TOKEN });
 * const ip = await c.allocateAddress({ name: 'pod-a', host: 'node-1' }); // '10.112.0.1'
 */
/** `POST /address`'s answer: the bare IP (IPv4 alone, the 2.x shape) or every family's. */
type AllocationAnswer = string | { ip: string; ips: string[] };

export class RomanadClient {
  readonly baseUrl: string;
  readonly #transport: TransportOptions;

  constructor(options: ClientOptions) {
    const { baseUrl, ...transport } = options;
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#transport = transport;
  }

  /**
   * Any route: resolves with the parsed 2xx body, throws `RomanadApiError` otherwise.
   *
   * @example await client.call<{ status: string }>('GET', '/healthz')
   */
  async call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, v);
    }
    const answer = await sendJson(url, method, opts.body, this.#transport);
    if (answer.status < 200 || answer.status > 299) {
      throw new RomanadApiError(answer.status, answer.body, `${method} ${url.href}`);
    }
    return answer.body as T;
  }

  /** `GET /networks`. */
  listNetworks(): Promise<Network[]> {
    return this.call('GET', '/networks');
  }

  /** `GET /blocks`, or `GET /networks/{network}/blocks` when `network` is given. */
  listBlocks(network?: string): Promise<BlockList> {
    return network === undefined
      ? this.call('GET', '/blocks')
      : this.call('GET', `/networks/${seg(network)}/blocks`);
  }

  /** `GET /hosts`. */
  listHosts(): Promise<HostList> {
    return this.call('GET', '/hosts');
  }

  /** `GET /hosts/{name}`. */
  getHost(name: string): Promise<HostDetail> {
    return this.call('GET', `/hosts/${seg(name)}`);
  }

  /** `POST /hosts` (answers `null`). */
  addHost(host: NewHost): Promise<null> {
    return this.call('POST', '/hosts', { body: host });
  }

  /** `PATCH /hosts/{name}`: replaces the given fields; `null` clears one. */
  patchHost(name: string, patch: HostPatch): Promise<HostDetail> {
    return this.call('PATCH', `/hosts/${seg(name)}`, { body: patch });
  }

  /** `DELETE /hosts/{name}`; with `force`, releases the host's addresses too. */
  removeHost(name: string, force = false): Promise<RemovedHost> {
    const query = force ? { force: 'true' } : {};
    return this.call('DELETE', `/hosts/${seg(name)}`, { query });
  }

  /**
   * `POST /address`: resolves with the allocated IP, the first one (IPv4 when there is one)
   * for a dual-stack allocation.
   */
  async allocateAddress(req: AllocationRequest): Promise<string> {
    return (await this.allocateAll(req))[0]!;
  }

  /** `POST /address` (as `allocateAddress`): resolves with the allocated IP (the first one). */
  allocate(req: AllocationRequest): Promise<string> {
    return this.allocateAddress(req);
  }

  /**
   * `POST /address`: resolves with every IP allocated, IPv4 first (one per family of the
   * tenant's networks).
   *
   * @example await c.allocateAll({ name: 'pod-a', host: 'node-1' }) // ['10.112.0.1', 'fd00:10::1']
   */
  async allocateAll(req: AllocationRequest): Promise<string[]> {
    const answer: AllocationAnswer = await this.call('POST', '/address', { body: req });
    return typeof answer === 'object' && answer !== null ? answer.ips : [answer];
  }

  /**
   * `PUT /addresses/{name}/pod`: sets or replaces the pod link of an address (its pod, the
   * pod's labels and named ports); an identical link writes nothing.
   */
  setAddressPod(name: string, pod: PodInput): Promise<Address> {
    return this.call('PUT', `/addresses/${seg(name)}/pod`, { body: pod });
  }

  /** `DELETE /addresses/{name}/pod`: removes the pod link of an address. */
  clearAddressPod(name: string): Promise<Address> {
    return this.call('DELETE', `/addresses/${seg(name)}/pod`);
  }

  /** `GET /namespaces`, sorted by name. */
  listNamespaces(): Promise<Namespace[]> {
    return this.call('GET', '/namespaces');
  }

  /** `GET /namespaces/{name}`. */
  getNamespace(name: string): Promise<Namespace> {
    return this.call('GET', `/namespaces/${seg(name)}`);
  }

  /** `PUT /namespaces/{name}`: creates the namespace or replaces its labels. */
  putNamespace(name: string, labels: Record<string, string>): Promise<Namespace> {
    return this.call('PUT', `/namespaces/${seg(name)}`, { body: { labels } });
  }

  /** `DELETE /namespaces/{name}`. */
  deleteNamespace(name: string): Promise<null> {
    return this.call('DELETE', `/namespaces/${seg(name)}`);
  }

  /** `GET /address?addressName=` (a name or an IP). */
  getAddress(nameOrIp: string): Promise<Address> {
    return this.call('GET', '/address', { query: { addressName: nameOrIp } });
  }

  /** `GET /addresses[?host=]`. */
  listAddresses(host?: string): Promise<Address[]> {
    return this.call('GET', '/addresses', { query: { host } });
  }

  /** `DELETE /address?addressName=` (a name or an IP). */
  releaseAddress(nameOrIp: string): Promise<null> {
    return this.call('DELETE', '/address', { query: { addressName: nameOrIp } });
  }

  /** `GET /topology`. */
  getTopology(): Promise<Topology> {
    return this.call('GET', '/topology');
  }

  /** `POST /topology` (any JSON document; romanad validates it). */
  updateTopology(doc: unknown): Promise<null> {
    return this.call('POST', '/topology', { body: doc });
  }

  /** `GET /policies`. */
  listPolicies(): Promise<Policy[]> {
    return this.call('GET', '/policies');
  }

  /** `GET /policies/{id}`. */
  getPolicy(id: string): Promise<Policy> {
    return this.call('GET', `/policies/${seg(id)}`);
  }

  /** `POST /policies`: stores the policy, or replaces the one with the same id. */
  addPolicy(policy: unknown): Promise<null> {
    return this.call('POST', '/policies', { body: policy });
  }

  /** `DELETE /policies/{id}`. */
  removePolicy(id: string): Promise<null> {
    return this.call('DELETE', `/policies/${seg(id)}`);
  }

  /** `GET /vips`. */
  listVips(): Promise<Vip[]> {
    return this.call('GET', '/vips');
  }

  /** `GET /vips/{name}`. */
  getVip(name: string): Promise<Vip> {
    return this.call('GET', `/vips/${seg(name)}`);
  }

  /** `PUT /vips/{name}`: creates the VIP, or replaces it (another host moves it). */
  putVip(name: string, vip: { ip: string; host: string; namespace?: string }): Promise<Vip> {
    return this.call('PUT', `/vips/${seg(name)}`, { body: vip });
  }

  /** `DELETE /vips/{name}`. */
  removeVip(name: string): Promise<null> {
    return this.call('DELETE', `/vips/${seg(name)}`);
  }

  /** `GET /blackouts`. */
  listBlackouts(): Promise<Blackout[]> {
    return this.call('GET', '/blackouts');
  }

  /** `POST /blackouts`. */
  addBlackout(cidr: string): Promise<Blackout> {
    return this.call('POST', '/blackouts', { body: { cidr } });
  }

  /** `DELETE /blackouts?cidr=`. */
  removeBlackout(cidr: string): Promise<null> {
    return this.call('DELETE', '/blackouts', { query: { cidr } });
  }
}

/** A path segment, escaped. */
function seg(s: string): string {
  return encodeURIComponent(s);
}
