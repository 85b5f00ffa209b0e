import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CniCode, CniError, errorJson } from './errors.ts';
import { addressesFromPrevResult, formatResult, versionResult, type Attached } from './result.ts';

const attached: Attached = {
  hostVeth: 'romana-abcdef01',
  hostMac: '02:00:00:00:00:01',
  ifname: 'eth0',
  podMac: '02:00:00:00:00:02',
  netns: '/var/run/netns/pod',
  ips: ['10.112.0.5'],
  gatewayIp: '172.142.0.1',
  gatewayIp6: 'fe80::1',
  mtu: 1500,
};

describe('ADD result formats', () => {
  for (const v of ['0.3.0', '0.3.1', '0.4.0'] as const) {
    it(`${v} carries version "4" on the IP and no mtu`, () => {
      assert.deepEqual(formatResult(attached, v), {
        cniVersion: v,
        interfaces: [
          { name: 'romana-abcdef01', mac: '02:00:00:00:00:01' },
          { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/var/run/netns/pod' },
        ],
        ips: [{ version: '4', address: '10.112.0.5/32', gateway: '172.142.0.1', interface: 1 }],
        routes: [{ dst: '0.0.0.0/0', gw: '172.142.0.1' }],
        dns: {},
      });
    });
  }

  it('writes an IPv6 pod with its /128, version "6" and the ::/0 default route', () => {
    const r = formatResult({ ...attached, ips: ['fd00::5'], gatewayIp6: 'fe80::7' }, '0.4.0');
    assert.deepEqual(r.ips, [
      { version: '6', address: 'fd00::5/128', gateway: 'fe80::7', interface: 1 },
    ]);
    assert.deepEqual(r.routes, [{ dst: '::/0', gw: 'fe80::7' }]);
  });

  it('writes a dual-stack pod with one IP and one default route per family, IPv4 first', () => {
    for (const v of ['0.4.0', '1.1.0'] as const) {
      const r = formatResult({ ...attached, ips: ['10.112.0.5', 'fd00:10::5'] }, v);
      const version = (f: '4' | '6'): { version?: '4' | '6' } =>
        v === '0.4.0' ? { version: f } : {};
      assert.deepEqual(r.ips, [
        { ...version('4'), address: '10.112.0.5/32', gateway: '172.142.0.1', interface: 1 },
        { ...version('6'), address: 'fd00:10::5/128', gateway: 'fe80::1', interface: 1 },
      ]);
      assert.deepEqual(r.routes, [
        { dst: '0.0.0.0/0', gw: '172.142.0.1' },
        { dst: '::/0', gw: 'fe80::1' },
      ]);
    }
  });

  it('1.0.0 drops the IP version', () => {
    const r = formatResult(attached, '1.0.0');
    assert.deepEqual(r.ips, [{ address: '10.112.0.5/32', gateway: '172.142.0.1', interface: 1 }]);
    assert.equal(r.interfaces[1]!.mtu, undefined);
  });

  it('1.1.0 adds the interfaces mtu', () => {
    const r = formatResult(attached, '1.1.0');
    assert.equal(r.cniVersion, '1.1.0');
    assert.deepEqual(
      r.interfaces.map((i) => i.mtu),
      [1500, 1500],
    );
    assert.equal(r.ips[0]!.version, undefined);
  });

  it('reads the addresses back from a prevResult of any version, IPv4 first', () => {
    for (const v of ['0.3.1', '1.0.0', '1.1.0'] as const) {
      for (const ips of [['10.112.0.5'], ['fd00::5'], ['10.112.0.5', 'fd00::5']]) {
        const json = JSON.stringify(formatResult({ ...attached, ips }, v));
        assert.deepEqual(addressesFromPrevResult(JSON.parse(json) as Record<string, unknown>), ips);
      }
    }
    const read = (ips: unknown): string[] => addressesFromPrevResult({ ips });
    assert.deepEqual(addressesFromPrevResult(undefined), []);
    assert.deepEqual(read([{ address: 'fe80::1/64' }]), []);
    assert.deepEqual(read([{ address: '010.112.0.5/32' }]), []);
    assert.deepEqual(read([{ address: 'fd00::5/128' }, { address: '10.1.0.2/32' }]), [
      '10.1.0.2',
      'fd00::5',
    ]);
  });
});

describe('VERSION and errors', () => {
  it('VERSION answers in the version asked, or 1.1.0', () => {
    assert.equal(versionResult('0.3.1').cniVersion, '0.3.1');
    assert.equal(versionResult(undefined).cniVersion, '1.1.0');
    assert.equal(versionResult('9.9.9').cniVersion, '1.1.0');
    assert.deepEqual(versionResult('1.0.0').supportedVersions, [
      '0.3.0',
      '0.3.1',
      '0.4.0',
      '1.0.0',
      '1.1.0',
    ]);
  });

  it('errors carry cniVersion, code, msg and details; unknown errors are 999', () => {
    const e = new CniError(CniCode.TryAgainLater, 'romanad at x is unreachable', 'ECONNREFUSED');
    assert.deepEqual(errorJson(e, '0.4.0'), {
      cniVersion: '0.4.0',
      code: 11,
      msg: 'romanad at x is unreachable',
      details: 'ECONNREFUSED',
    });
    assert.deepEqual(errorJson(new Error('boom'), '1.0.0'), {
      cniVersion: '1.0.0',
      code: 999,
      msg: 'boom',
      details: '',
    });
  });
});
