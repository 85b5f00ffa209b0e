import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { Cidr } from '../net/addr.ts';
import { parseVipAnnotation, pickPoolIp, placeVip, vipCandidates, vipPool } from './vip.ts';

describe('the VIP annotation', () => {
  it('reads a fixed address and auto, under the new key and both 2.x keys', () => {
    assert.deepEqual(parseVipAnnotation({ 'romana.io/vip': '{"ip":"192.168.99.1"}' }), {
      kind: 'fixed',
      ip: '192.168.99.1',
      key: 'romana.io/vip',
    });
    assert.deepEqual(parseVipAnnotation({ romanavip: '{"auto":false,"ip":"192.168.99.2"}' }), {
      kind: 'fixed',
      ip: '192.168.99.2',
      key: 'romanavip',
    });
    assert.deepEqual(parseVipAnnotation({ romanaip: '{"auto":true}' }), {
      kind: 'auto',
      key: 'romanaip',
    });
    assert.deepEqual(parseVipAnnotation({ other: 'x' }), { kind: 'none' });
    assert.deepEqual(parseVipAnnotation(undefined), { kind: 'none' });
  });

  it('prefers romana.io/vip over the 2.x keys', () => {
    const r = parseVipAnnotation({
      romanavip: '{"auto":true}',
      'romana.io/vip': '{"ip":"10.9.9.9"}',
    });
    assert.equal(r.kind, 'fixed');
  });

  it('refuses bad values, naming the key and the problem', () => {
    const cases: [string, RegExp][] = [
      ['nope', /romana.io\/vip: not JSON/],
      ['[1]', /not a JSON object/],
      ['{"ip":"10.0.0.256"}', /ip "10.0.0.256" is not an IPv4 address/],
      ['{"ip":"010.0.0.1"}', /is not an IPv4 address/],
      ['{"auto":true,"ip":"10.0.0.1"}', /not both/],
      ['{"auto":"yes"}', /auto must be true or false/],
      ['{"adress":"10.0.0.1"}', /unknown field adress/],
      ['{}', /"ip" \(an IPv4 address\) or "auto": true is required/],
    ];
    for (const [text, re] of cases) {
      const r = parseVipAnnotation({ 'romana.io/vip': text });
      assert.equal(r.kind, 'invalid', text);
      assert.match((r as { problem: string }).problem, re);
    }
  });
});

function slice(endpoints: [string | undefined, boolean | undefined][]): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    endpoints: endpoints.map(([nodeName, ready], i) => ({
      addresses: [`10.0.0.${i + 1}`],
      ...(nodeName ? { nodeName } : {}),
      conditions: ready === undefined ? {} : { ready },
    })),
  };
}

describe('where a VIP goes', () => {
  it('takes nodes with a ready endpoint that are Ready and known hosts', () => {
    const s = [
      slice([
        ['n1', true],
        ['n2', false],
        ['n3', undefined],
        [undefined, true],
      ]),
      slice([
        ['n4', true],
        ['n5', true],
      ]),
    ];
    const ready = new Set(['n1', 'n2', 'n3', 'n4']);
    const hosts = new Set(['n1', 'n2', 'n3', 'n5']);
    assert.deepEqual(vipCandidates(s, ready, hosts), ['n1', 'n3']);
  });

  it('stays where it is while that node remains a candidate, and always lands on a candidate', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.uniqueArray(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e'), { maxLength: 5 }),
        fc.option(fc.constantFrom<string>('a', 'b', 'c', 'd', 'e', 'z'), { nil: undefined }),
        (name, cands, current) => {
          const p = placeVip(name, current, cands);
          if (cands.length === 0) return assert.equal(p, undefined);
          assert.ok(cands.includes(p!));
          if (current !== undefined && cands.includes(current)) assert.equal(p, current);
          // the same inputs in another order give the same answer
          assert.equal(placeVip(name, current, [...cands].reverse().sort()), p);
        },
      ),
    );
  });
});

describe('the VIP pool', () => {
  it('keeps the address a VIP holds, else takes the lowest free one, skipping network and broadcast', () => {
    const pool = Cidr.parse('192.168.99.0/29');
    assert.equal(pickPoolIp(pool, new Set(), '192.168.99.5'), '192.168.99.5');
    assert.equal(pickPoolIp(pool, new Set(['192.168.99.5']), '192.168.99.5'), '192.168.99.1');
    assert.equal(pickPoolIp(pool, new Set(['192.168.99.1']), '10.0.0.1'), '192.168.99.2');
    const used = new Set(['1', '2', '3', '4', '5', '6'].map((i) => `192.168.99.${i}`));
    assert.equal(pickPoolIp(pool, used), undefined);
    assert.equal(pickPoolIp(Cidr.parse('10.1.1.4/31'), new Set(['10.1.1.4'])), '10.1.1.5');
  });

  it('never hands out an address another VIP holds, nor one outside the pool', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 24, max: 32 }),
        fc.uniqueArray(fc.nat(255)),
        (prefix, taken) => {
          const pool = Cidr.parse(`10.7.7.0/${prefix}`.replace('/32', '/32'));
          const used = new Set(taken.map((n) => `10.7.7.${n}`));
          const ip = pickPoolIp(pool, used);
          if (ip !== undefined) {
            assert.ok(!used.has(ip));
            assert.ok(pool.containsAddr(Cidr.parse(`${ip}/32`).addr));
          }
        },
      ),
    );
  });
});

describe('the VIP pool', () => {
  it("is --vip-cidr when given (it wins), else the topology's vip_cidr, else none", () => {
    const flag = Cidr.parse('192.168.99.0/29');
    assert.equal(vipPool(flag, '192.168.98.0/29'), flag);
    assert.equal(vipPool(flag, undefined), flag);
    assert.equal(vipPool(undefined, '192.168.98.0/29')?.toString(), '192.168.98.0/29');
    assert.equal(vipPool(undefined, 'fd00:98::/120')?.toString(), 'fd00:98::/120');
    assert.equal(vipPool(undefined, undefined), undefined);
  });

  it('gives IPv6 addresses from an IPv6 pool', () => {
    const pool = Cidr.parse('fd00:98::/126');
    assert.equal(pickPoolIp(pool, new Set(['fd00:98::1'])), 'fd00:98::2');
  });
});
