import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isRomanaError } from '../errors.ts';
import { Addr, Cidr, formatIPv4, parseIPv4 } from './addr.ts';

describe('Addr', () => {
  it('parses dotted quads to their 32-bit value and back', () => {
    for (const [text, v] of [
      ['0.0.0.0', 0],
      ['10.0.0.1', 167772161],
      ['255.255.255.255', 4294967295],
      ['192.168.1.10', 3232235786],
    ] as const) {
      assert.equal(parseIPv4(text), v);
      assert.equal(formatIPv4(v), text);
      assert.equal(Addr.parse(text).toString(), text);
    }
  });

  it('rejects leading zeros, out-of-range octets and stray text, naming the field', () => {
    for (const bad of [
      '010.0.0.1',
      '1.2.3',
      '1.2.3.4.5',
      '256.0.0.1',
      ' 1.2.3.4',
      '1.2.3.-1',
      '',
      'a.b.c.d',
    ]) {
      assert.equal(parseIPv4(bad), undefined, bad);
      assert.throws(
        () => Addr.parse(bad, 'hosts[0].ip'),
        (e: unknown) => isRomanaError(e, 'InvalidInput') && e.message.startsWith('hosts[0].ip:'),
      );
    }
  });

  it('says IPv6 is not supported yet rather than truncating it', () => {
    assert.throws(() => Addr.parse('fd00::1'), /IPv6 is not supported yet/);
  });
});

describe('Cidr', () => {
  it('parses aligned networks and computes start, end and size', () => {
    const c = Cidr.parse('10.1.0.0/16');
    assert.equal(c.size, 65536n);
    assert.equal(formatIPv4(Number(c.end)), '10.1.255.255');
    assert.equal(c.toString(), '10.1.0.0/16');
  });

  it('rejects host bits and names the aligned network', () => {
    assert.throws(
      () => Cidr.parse('10.1.0.5/16', 'networks[0].cidr'),
      /networks\[0\]\.cidr: '10\.1\.0\.5\/16' has host bits set; the network address of that \/16 is 10\.1\.0\.0\/16/,
    );
  });

  it('rejects prefixes out of range and malformed text', () => {
    for (const bad of [
      '10.0.0.0/33',
      '10.0.0.0',
      '10.0.0.0/',
      '10.0.0.0/08',
      '10.0.0.0/-1',
      'x/8',
    ]) {
      assert.throws(
        () => Cidr.parse(bad),
        (e: unknown) => isRomanaError(e, 'InvalidInput'),
        bad,
      );
    }
  });

  it('treats containment as overlap for aligned CIDRs', () => {
    const a = Cidr.parse('10.0.0.0/8');
    const b = Cidr.parse('10.2.0.0/16');
    const c = Cidr.parse('11.0.0.0/8');
    assert.ok(a.contains(b) && !b.contains(a) && a.overlaps(b) && b.overlaps(a));
    assert.ok(!a.overlaps(c));
    assert.ok(a.contains(a));
  });

  it('carves subnets by index', () => {
    const c = Cidr.parse('10.0.0.0/16');
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => c.subnet(18, i).toString()),
      ['10.0.0.0/18', '10.0.64.0/18', '10.0.128.0/18', '10.0.192.0/18'],
    );
  });
});

describe('parseIPv4 against a reference parser', () => {
  const reference = (text: string): number | undefined => {
    const parts = text.split('.');
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p)))
      return undefined;
    const n = parts.map(Number);
    return n.every((x) => x <= 255) ? n.reduce((v, x) => v * 256 + x, 0) : undefined;
  };

  it('agrees on any string of digits and dots, and on every valid address', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9.]{0,16}$/), (text) => {
        assert.equal(parseIPv4(text), reference(text), text);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (v) => {
        assert.equal(parseIPv4(formatIPv4(v)), v);
      }),
    );
  });
});
