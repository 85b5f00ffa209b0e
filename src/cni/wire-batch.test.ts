/**
 * The two `ip -batch` scripts that wire a pod (host side, pod side), written out in full for an
 * IPv4 pod and a dual-stack one: what `wire` hands to `ip`, line by line. Pure: the kernel's
 * side of them is tested in wire-edges.test.ts and wire6.test.ts.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hostBatch, podBatch, randomMac } from './wire.ts';
import { wireBase } from './wire.fixtures.ts';

const base = wireBase;

it('writes the host and pod batches of an IPv4 pod, and of a dual-stack one', () => {
  assert.equal(
    hostBatch(base),
    'link add m16c-hv mtu 1400 address 02:00:00:00:00:01 type veth peer name eth0 mtu 1400' +
      ' address 02:00:00:00:00:02 netns /var/run/netns/pod\n' +
      'link set dev m16c-hv up alias c1/eth0\n' +
      'route replace 10.201.0.5/32 dev m16c-hv scope link\n',
  );
  assert.equal(
    podBatch(base),
    'addr add 10.201.0.5/32 dev eth0\n' +
      'link set eth0 up\n' +
      'route append 172.142.0.1/32 dev eth0 scope link\n' +
      'route append default via 172.142.0.1 dev eth0 onlink\n',
  );
  const dual = { ...base, ips: ['10.201.0.5', 'fd00:11::5'] };
  assert.equal(
    hostBatch(dual).split('\n')[1],
    'addr add fe80::1/64 dev m16c-hv nodad',
    'the IPv6 gateway right after the link',
  );
  assert.match(hostBatch(dual), /\nroute replace fd00:11::5\/128 dev m16c-hv scope link\n$/);
  assert.deepEqual(podBatch(dual).split('\n'), [
    'addr add 10.201.0.5/32 dev eth0',
    'addr add fd00:11::5/128 dev eth0 nodad',
    'link set eth0 up',
    'route append 172.142.0.1/32 dev eth0 scope link',
    'route append default via 172.142.0.1 dev eth0 onlink',
    'route append ::/0 via fe80::1 dev eth0',
    '',
  ]);
});

it('refuses a gateway that is not an address, naming the gateway', () => {
  assert.throws(() => podBatch({ ...base, gatewayIp: '172.142.0.300' }), {
    message: "gateway: '172.142.0.300' is not a valid IPv4 or IPv6 address",
  });
});

it('makes random MACs: six two-digit bytes, locally administered and unicast', () => {
  const macs = Array.from({ length: 300 }, () => randomMac());
  for (const mac of macs) {
    assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const first = parseInt(mac.slice(0, 2), 16);
    assert.equal(first & 0x03, 0x02, `${mac}: local bit set, multicast bit clear`);
  }
  // 1,800 random bytes: bytes below 0x10 (written with a leading 0) are all but certain.
  assert.ok(macs.some((m) => /(^|:)0[0-9a-f]/.test(m)));
  assert.ok(new Set(macs).size > 290, 'random, not one fixed address');
});
