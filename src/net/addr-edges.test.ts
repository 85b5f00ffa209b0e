/**
 * Addresses and prefixes at their edges: every refusal's exact words (the field, the value, the
 * families the field takes, the form expected, the canonical spelling), the range of values and
 * prefix lengths of each family, `tryParse` refusing what `parse` refuses, and the JSON forms.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRomanaError } from '../errors.ts';
import { Addr, BOTH_FAMILIES, Cidr, hostCidr, IPV4_ONLY, IPV6_ONLY } from './addr.ts';

function refused(f: () => unknown, message: string): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(isRomanaError(e, 'InvalidInput'), String(e));
    assert.equal(e.message, message);
    return true;
  });
}

describe('address refusals, word for word', () => {
  it('says which families the field takes when the text is no address at all', () => {
    refused(() => Addr.parse('x', 'f'), "f: 'x' is not a valid IPv4 or IPv6 address");
    refused(() => Addr.parse('x', 'f', IPV4_ONLY), "f: 'x' is not a valid IPv4 address");
    refused(() => Addr.parse('x', 'f', IPV6_ONLY), "f: 'x' is not a valid IPv6 address");
    refused(() => Addr.parse('1.2.3', 'f', IPV6_ONLY), "f: '1.2.3' is not a valid IPv6 address");
    refused(() => Addr.parse('1:2', 'f'), "f: '1:2' is not a valid IPv6 address");
    refused(() => Addr.parse('x'), "ip: 'x' is not a valid IPv4 or IPv6 address");
  });

  it('refuses an IPv4 address in an IPv6 field, and IPv6 in an IPv4 one, by family', () => {
    refused(
      () => Addr.parse('10.0.0.1', 'f', IPV6_ONLY),
      "f: '10.0.0.1' is an IPv4 address; this field takes an IPv6 address",
    );
    refused(
      () => Cidr.parse('fd00::/64', 'c', IPV4_ONLY),
      "c: 'fd00::/64' is an IPv6 address; this field takes an IPv4 address",
    );
    refused(
      () => Cidr.parse('10.0.0.0/8', 'c', IPV6_ONLY),
      "c: '10.0.0.0/8' is an IPv4 address; this field takes an IPv6 address",
    );
  });

  it('names an IPv4-mapped address written in hex or dotted, and a zone id', () => {
    refused(
      () => Addr.parse('::ffff:a00:1', 'f'),
      "f: '::ffff:a00:1' is not a valid IPv6 address: it is IPv4-mapped; write the IPv4 address 10.0.0.1",
    );
    refused(
      () => Addr.parse('::FFFF:10.0.0.1', 'f'),
      "f: '::FFFF:10.0.0.1' is not a valid IPv6 address: it is IPv4-mapped; write the IPv4 address 10.0.0.1",
    );
    refused(
      () => Addr.parse('::ffff:10.0.0.256', 'f'),
      "f: '::ffff:10.0.0.256' is not a valid IPv6 address",
    );
    refused(
      () => Addr.parse('fe80::1%eth0', 'f'),
      "f: 'fe80::1%eth0' is not a valid IPv6 address: it has a zone id (%eth0); Romana addresses take none",
    );
    // The address just below and above the mapped range is an ordinary IPv6 address.
    assert.equal(Addr.parse('::fffe:ffff:ffff').family, 6);
    assert.equal(Addr.parse('::1:0:0:0').family, 6);
    assert.equal(Addr.tryParse('::fffe:ffff:ffff')?.toString(), '::fffe:ffff:ffff');
    assert.equal(Addr.tryParse('::1:0:0:0')?.toString(), '::1:0:0:0');
  });

  it('names a zone id wherever it starts, and an IPv4-mapped address only when it is one', () => {
    refused(
      () => Addr.parse('%eth0::1', 'f'),
      "f: '%eth0::1' is not a valid IPv6 address: it has a zone id (%eth0::1); Romana addresses take none",
    );
    for (const bad of ['1::ffff:10.0.0.1', '::ffff:10.0.0.1x', '::ffff:10.0.0.1:1']) {
      refused(() => Addr.parse(bad, 'f'), `f: '${bad}' is not a valid IPv6 address`);
    }
    refused(() => hostCidr('x'), "ip: 'x' is not a valid IPv4 or IPv6 address");
  });

  it('refuses more than eight groups however they are written', () => {
    for (const bad of ['1:2:3:4::5:6:7:8', '1:2:3:4:5::6:7:8:9', '::1:2:3:4:5:6:7:8']) {
      refused(() => Addr.parse(bad, 'f'), `f: '${bad}' is not a valid IPv6 address`);
      assert.equal(Addr.tryParse(bad), undefined, bad);
    }
    // Seven groups and `::` (one zero group) are read, only to name the canonical spelling.
    refused(
      () => Addr.parse('1:2:3::5:6:7:8', 'f'),
      "f: '1:2:3::5:6:7:8' is not written canonically; write it as 1:2:3:0:5:6:7:8",
    );
  });

  it('keeps address values inside the family', () => {
    refused(
      () => Addr.fromBigInt(4, 1n << 32n),
      'address value 4294967296 is out of range for IPv4',
    );
    refused(() => Addr.fromBigInt(4, -1n), 'address value -1 is out of range for IPv4');
    refused(
      () => Addr.fromBigInt(6, 1n << 128n),
      `address value ${1n << 128n} is out of range for IPv6`,
    );
    assert.equal(Addr.fromBigInt(4, (1n << 32n) - 1n).toString(), '255.255.255.255');
    assert.equal(Addr.fromBigInt(4, 0n).toString(), '0.0.0.0');
    assert.equal(Addr.fromBigInt(6, (1n << 128n) - 1n).bits, 128);
    assert.equal(Addr.parse('10.0.0.255').add(1).toString(), '10.0.1.0');
    assert.equal(Addr.parse('fd00::ff').add(1n).toString(), 'fd00::100');
    refused(
      () => Addr.parse('255.255.255.255').add(1),
      'address value 4294967296 is out of range for IPv4',
    );
  });
});

describe('tryParse', () => {
  it('refuses exactly what parse refuses, for each family a field takes', () => {
    const texts = [
      '10.0.0.1',
      'fd00::1',
      'FD00::1',
      'fd00:0::1',
      '::ffff:a00:1',
      '::ffff:10.0.0.1',
      'fe80::1%eth0',
      'x',
      '',
      '1.2.3',
      '1:2',
    ];
    for (const families of [BOTH_FAMILIES, IPV4_ONLY, IPV6_ONLY]) {
      for (const t of texts) {
        let parsed: string | undefined;
        try {
          parsed = Addr.parse(t, 'ip', families).toString();
        } catch {
          parsed = undefined;
        }
        assert.equal(Addr.tryParse(t, families)?.toString(), parsed, `${t} ${families.join()}`);
      }
    }
    assert.equal(Addr.tryParse('10.0.0.1', IPV6_ONLY), undefined);
    assert.equal(Addr.tryParse('10.0.0.1', IPV4_ONLY)?.family, 4);
    assert.equal(Addr.tryParse('fd00::1', IPV6_ONLY)?.family, 6);
    assert.equal(Addr.tryParse('fd00::1')?.family, 6);
  });
});

describe('prefix refusals, word for word', () => {
  it('says which form it expected, by the families the field takes', () => {
    refused(() => Cidr.parse('10.0.0.0', 'c'), "c: '10.0.0.0' is not a CIDR (expected a.b.c.d/n)");
    refused(() => Cidr.parse('fd00::', 'c'), "c: 'fd00::' is not a CIDR (expected ipv6-address/n)");
    refused(() => Cidr.parse('x', 'c', IPV6_ONLY), "c: 'x' is not a CIDR (expected address/n)");
    refused(
      () => Cidr.parse('fd00::/x', 'c', IPV4_ONLY),
      "c: 'fd00::/x' is not a CIDR (expected a.b.c.d/n)",
    );
    refused(() => Cidr.parse('x/8', 'c'), "c: 'x/8' is not a CIDR (expected a.b.c.d/n)");
    refused(
      () => Cidr.parse('10.0.0.0/8 '),
      "cidr: '10.0.0.0/8 ' is not a CIDR (expected a.b.c.d/n)",
    );
    refused(
      () => Cidr.parse(' 10.0.0.0/8'),
      "cidr: ' 10.0.0.0/8' is not a CIDR (expected a.b.c.d/n)",
    );
  });

  it('names the canonical spelling of a non-canonical IPv6 prefix, and a mapped one', () => {
    refused(
      () => Cidr.parse('FD00::/64', 'c'),
      "c: 'FD00::/64' is not a CIDR (expected ipv6-address/n); write it as fd00::/64",
    );
    refused(
      () => Cidr.parse('fe80::%eth0/64', 'c'),
      "c: 'fe80::%eth0/64' is not a CIDR (expected ipv6-address/n)",
    );
    refused(
      () => Cidr.parse('::ffff:10.0.0.0/104', 'c'),
      "c: '::ffff:10.0.0.0/104' is not a CIDR: its address is IPv4-mapped (::ffff:0:0/96); write the IPv4 CIDR (a.b.c.d/n)",
    );
  });

  it('takes prefix lengths 0 to 32 and 0 to 128, written without leading zeros', () => {
    for (const p of [0, 1, 9, 10, 19, 99, 100, 128]) {
      assert.equal(Cidr.parse(`::/${p}`, 'c').prefix, p);
    }
    for (const p of [0, 7, 32]) assert.equal(Cidr.parse(`0.0.0.0/${p}`, 'c').prefix, p);
    refused(() => Cidr.parse('::/129', 'c'), 'c: prefix length 129 is not between 0 and 128');
    refused(() => Cidr.parse('0.0.0.0/33', 'c'), 'c: prefix length 33 is not between 0 and 32');
    for (const bad of ['::/130', '::/200', '::/1000', '::/00', '::/01', '::/+1', '::/1 ']) {
      refused(() => Cidr.parse(bad, 'c'), `c: '${bad}' is not a CIDR (expected ipv6-address/n)`);
    }
    const a = Addr.parse('10.0.0.0');
    refused(() => Cidr.of(a, 33), 'cidr: prefix length 33 is not between 0 and 32');
    refused(() => Cidr.of(a, -1, 'f'), 'f: prefix length -1 is not between 0 and 32');
    refused(() => Cidr.of(a, 8.5, 'f'), 'f: prefix length 8.5 is not between 0 and 32');
    assert.equal(Cidr.of(a, 32).toString(), '10.0.0.0/32');
    assert.equal(Cidr.of(Addr.parse('0.0.0.0'), 0).toString(), '0.0.0.0/0');
    refused(
      () => Cidr.of(a, 0, 'f'),
      "f: '10.0.0.0/0' has host bits set; the network address of that /0 is 0.0.0.0/0",
    );
  });
});

describe('prefix values', () => {
  it('compares prefix and address, and writes both as their text in JSON', () => {
    const a = Cidr.parse('10.0.0.0/8');
    assert.ok(!a.equals(Cidr.parse('10.0.0.0/16')));
    assert.ok(a.equals(Cidr.parse('10.0.0.0/8')));
    assert.ok(!a.equals(Cidr.parse('11.0.0.0/8')));
    assert.equal(
      JSON.stringify({ a: Addr.parse('fd00::1'), c: Cidr.parse('fd00::/64'), d: a }),
      '{"a":"fd00::1","c":"fd00::/64","d":"10.0.0.0/8"}',
    );
    assert.equal(Cidr.containing(Addr.parse('10.1.2.3'), 16).toString(), '10.1.0.0/16');
    assert.equal(Cidr.containing(Addr.parse('10.1.2.3'), 0).toString(), '0.0.0.0/0');
    assert.equal(Cidr.containing(Addr.parse('10.1.2.3'), 32).toString(), '10.1.2.3/32');
    assert.equal(a.family, 4);
    assert.equal(a.start, 10n << 24n);
    assert.equal(a.end, (11n << 24n) - 1n);
  });
});
