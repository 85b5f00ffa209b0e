import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validatePolicy } from './validate.ts';

/** A 2.x ingress policy with one entry of these peers and rules. */
function entry(peers: unknown[], rules: unknown[]): unknown {
  return {
    id: 'p6-policy',
    direction: 'ingress',
    applied_to: [{ tenant_id: 'a', segment_id: 'back' }],
    ingress: [{ peers, rules }],
  };
}

function problems(input: unknown): string[] {
  const v = validatePolicy(input);
  return v.ok ? [] : v.problems;
}

const tcp = { protocol: 'tcp', ports: [8080] };
const CIDR = 'ingress[0].peers[0].cidr';

describe('IPv6 in 2.x policies', () => {
  it('accepts canonical IPv6 CIDR peers next to IPv4 ones', () => {
    const v = validatePolicy(entry([{ cidr: 'fd00:9::/64' }, { cidr: '10.9.0.0/16' }], [tcp]));
    assert.ok(v.ok, JSON.stringify(v));
  });

  it('refuses non-canonical text, zone ids and IPv4-mapped prefixes, naming field and value', () => {
    const one = (cidr: string) => problems(entry([{ cidr }], [tcp]));
    assert.deepEqual(one('FD00:9::/64'), [
      `${CIDR}: 'FD00:9::/64' is not a CIDR (expected ipv6-address/n); write it as fd00:9::/64`,
    ]);
    assert.deepEqual(one('fe80::%eth0/64'), [
      `${CIDR}: 'fe80::%eth0/64' has a zone id (%…); a policy CIDR cannot name an interface, write it without`,
    ]);
    assert.deepEqual(one('::ffff:a00:0/104'), [
      `${CIDR}: '::ffff:a00:0/104' is an IPv4-mapped IPv6 prefix (::ffff:0:0/96), which no packet carries; write the IPv4 CIDR (a.b.c.d/n)`,
    ]);
    assert.deepEqual(one('::ffff:10.0.0.0/104'), [
      `${CIDR}: '::ffff:10.0.0.0/104' embeds an IPv4 address in IPv6 text; write the IPv4 CIDR (a.b.c.d/n) or the IPv6 one in hex groups`,
    ]);
    assert.deepEqual(one('fd00:9::1/64'), [
      `${CIDR}: 'fd00:9::1/64' has host bits set; the network address of that /64 is fd00:9::/64`,
    ]);
  });

  it('accepts icmpv6 with a type and code, refuses codes the type has not and ports', () => {
    assert.deepEqual(
      problems(entry([{ peer: 'any' }], [{ protocol: 'icmpv6', icmp_type: 128 }])),
      [],
    );
    assert.deepEqual(
      problems(entry([{ peer: 'any' }], [{ protocol: 'ICMPv6', icmp_type: 1, icmp_code: 4 }])),
      [],
    );
    assert.deepEqual(
      problems(entry([{ peer: 'any' }], [{ protocol: 'icmpv6', icmp_type: 128, icmp_code: 1 }])),
      ['ingress[0].rules[0]: Invalid ICMPv6 code for type 128: 1.'],
    );
    assert.deepEqual(problems(entry([{ peer: 'any' }], [{ protocol: 'icmpv6', icmp_type: 256 }])), [
      'ingress[0].rules[0]: Invalid ICMPv6 type: 256.',
    ]);
    assert.deepEqual(problems(entry([{ peer: 'any' }], [{ protocol: 'icmpv6', ports: [80] }])), [
      'ingress[0].rules[0]: protocol icmpv6 has no ports, but ports are also specified.',
    ]);
  });

  it('refuses a one-family protocol whose entry has only CIDR peers of the other family', () => {
    assert.deepEqual(problems(entry([{ cidr: '10.9.0.0/16' }], [tcp, { protocol: 'icmpv6' }])), [
      "ingress[0].rules[1].protocol: 'icmpv6' is enforced on IPv6 only, but every peer of this entry is an IPv4 CIDR (10.9.0.0/16): the rule could never match; use 'icmp' or an IPv6 peer",
    ]);
    assert.deepEqual(
      problems(entry([{ cidr: 'fd00:9::/64' }], [{ protocol: 'icmp', icmp_type: 8 }])),
      [
        "ingress[0].rules[0].protocol: 'icmp' is enforced on IPv4 only, but every peer of this entry is an IPv6 CIDR (fd00:9::/64): the rule could never match; use 'icmpv6' or an IPv4 peer",
      ],
    );
    // Either family among the peers, or a peer of both families: fine.
    const both = [{ cidr: 'fd00:9::/64' }, { cidr: '10.9.0.0/16' }];
    assert.deepEqual(problems(entry(both, [{ protocol: 'icmp' }, { protocol: 'icmpv6' }])), []);
    const tenant = [{ cidr: 'fd00:9::/64' }, { tenant_id: 'b' }];
    assert.deepEqual(problems(entry(tenant, [{ protocol: 'icmp' }])), []);
  });
});

describe('IPv6 in Kubernetes-form policies', () => {
  const base = { id: 'kube.x.p6', namespace: 'x', podSelector: {} };
  const withBlock = (ipBlock: unknown) => ({ ...base, ingress: [{ from: [{ ipBlock }] }] });
  const PATH = 'ingress[0].from[0].ipBlock';

  it('accepts an IPv6 ipBlock with an IPv6 except inside it', () => {
    const v = validatePolicy(withBlock({ cidr: 'fd00::/48', except: ['fd00::/64'] }));
    assert.ok(v.ok, JSON.stringify(v));
  });

  it('refuses zone ids, mapped prefixes and an except of the other family', () => {
    assert.deepEqual(problems(withBlock({ cidr: 'fe80::%lo/64' })), [
      `${PATH}.cidr: 'fe80::%lo/64' has a zone id (%…); a policy CIDR cannot name an interface, write it without`,
    ]);
    assert.deepEqual(problems(withBlock({ cidr: '::ffff:0:0/96' })), [
      `${PATH}.cidr: '::ffff:0:0/96' is an IPv4-mapped IPv6 prefix (::ffff:0:0/96), which no packet carries; write the IPv4 CIDR (a.b.c.d/n)`,
    ]);
    assert.deepEqual(problems(withBlock({ cidr: 'fd00::/48', except: ['10.0.0.0/8'] })), [
      `${PATH}.except[0]: must be strictly inside fd00::/48, got 10.0.0.0/8`,
    ]);
  });
});
