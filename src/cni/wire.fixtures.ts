/** The wiring of one IPv4 pod, as `wire` takes it: shared by the CNI wiring tests. */
export const wireBase = {
  hostVeth: 'm16c-hv',
  owner: 'c1/eth0',
  ifname: 'eth0',
  netns: '/var/run/netns/pod',
  ips: ['10.201.0.5'],
  gatewayIp: '172.142.0.1',
  gatewayIp6: 'fe80::1',
  mtu: 1400,
  hostMac: '02:00:00:00:00:01',
  podMac: '02:00:00:00:00:02',
};
