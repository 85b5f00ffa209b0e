/**
 * The API fuzzed from its own schemas (issue 11): valid bodies generated from the route
 * schemas, broken by fast-check (wrong types, unknown and missing fields, odd strings, deep
 * nesting, huge values), plus odd paths and raw bodies, sent to the real service on the memory
 * store through fastify's inject (test/e2e/romanad-fuzz.test.ts sends the same to a romanad
 * process over HTTP). Properties (test/helpers/api-fuzz.ts): never a 5xx; every error is our
 * error body and a 400/422 names the field; after every refused request the store revision and
 * every list are unchanged. `FUZZ_RUNS` (default 250 per property, 3,500 cases in all) sets
 * the count.
 */
import { after, before, describe } from 'node:test';
import type { FastifyInstance } from 'fastify';
import {
  describeCounts,
  type FuzzCounts,
  fuzzChecker,
  fuzzTests,
} from '../../../test/helpers/api-fuzz.ts';
import { type FaultyService, realService } from '../../../test/helpers/service.ts';
import { buildApp } from './app.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 250);

let service: FaultyService;
let app: FastifyInstance;
const counts: FuzzCounts = { cases: 0, accepted: 0, refused: new Map() };

before(async () => {
  // A small network (16 blocks), so that reading every list after every case stays cheap.
  service = await realService({
    initialTopology: {
      networks: [{ name: 'net1', cidr: '10.0.0.0/24', block_mask: 28 }],
      topologies: [{ networks: ['net1'], map: [{ name: 'rack-1' }, { name: 'rack-2' }] }],
    },
  });
  await service.addHost({ name: 'h1', ip: '192.168.0.1' });
  // An address whose pod link the fuzzed PUT /addresses/a1/pod replaces.
  await service.allocate({ name: 'a1', host: 'h1', pod: { namespace: 'shop', name: 'web-0' } });
  app = buildApp(service);
  await app.ready();
});

after(async () => {
  await app.close();
  await service.close();
  console.log(describeCounts('fuzz', counts));
});

/**
 * Requests go through inject; the revision and every list a client can read come from the
 * service, as the GET routes answer them (not over inject, to keep 3,500 cases near a minute).
 */
const check = fuzzChecker(
  {
    send: async (method, url, payload, contentType) => {
      const res = await app.inject({
        method,
        url,
        ...(payload === undefined ? {} : { payload, headers: { 'content-type': contentType } }),
      });
      return { status: res.statusCode, body: res.body };
    },
    observe: async () => ({
      revision: service.revision(),
      reads: JSON.stringify([
        service.listHosts(),
        service.listAddresses(),
        service.listPolicies(),
        service.getTopology(),
        service.listBlocks(),
        service.listVips(),
        service.listBlackouts(),
        service.listNetworks(),
        service.listNamespaces(),
      ]),
    }),
  },
  counts,
);

describe('the API under fuzzing: no 5xx, every refusal names its field and changes nothing', () => {
  fuzzTests(check, RUNS);
});
