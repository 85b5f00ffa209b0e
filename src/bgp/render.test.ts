/**
 * Rendered configurations are parsed by the real BIRD (`bird -p -c FILE`): random inputs, the
 * template path, and BIRD's own view of what the rendered static protocol and filter do.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { isRomanaError } from '../errors.ts';
import type { Announcement } from './announce.ts';
import {
  checkBirdConfig,
  DEFAULT_TIMERS,
  peerProtocol,
  renderBirdConfig,
  withoutAnnouncements,
  type BgpPeer,
  type BirdConfig,
} from './render.ts';
import { renderTemplate, TemplateError } from './template.ts';
import { spineConfig, torConfig, type Rack } from './fabric.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romana-bg-render-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** BIRD's parser on `text`: its exit status and message. */
function birdParse(text: string): { ok: boolean; msg: string } {
  const file = path.join(dir, `c${n++}.conf`);
  writeFileSync(file, text);
  const r = spawnSync('bird', ['-p', '-c', file], { encoding: 'utf8' });
  return { ok: r.status === 0, msg: r.stderr };
}

const ann = (prefix: string, kind: Announcement['kind'] = 'block'): Announcement => ({
  prefix,
  network: 'pods',
  kind,
  reason: 'test',
});

const base: BirdConfig = {
  host: 'h1',
  routerId: '192.168.1.11',
  localAddress: '192.168.1.11',
  localAs: 65001,
  networks: [{ name: 'pods', cidr: '10.112.0.0/16' }],
  announcements: [ann('10.112.0.0/20', 'group'), ann('10.112.64.0/28')],
  peers: [{ address: '192.168.1.1', as: 65100, source: 'flag' }],
  gracefulRestart: 120,
  timers: DEFAULT_TIMERS,
  kernel: true,
};

const octet = fc.integer({ min: 0, max: 255 });
const peerArb: fc.Arbitrary<BgpPeer> = fc.record(
  {
    address: fc.oneof(
      fc.tuple(octet, octet).map(([a, b]) => `192.168.${a}.${b}`),
      fc.integer({ min: 1, max: 0xffff }).map((x) => `fd00::${x.toString(16)}`),
    ),
    as: fc.integer({ min: 1, max: 4_294_967_295 }),
    password: fc.stringMatching(/^[a-zA-Z0-9 !#$%&'()*+,.:;<=>?@[\]^_{|}~-]{1,40}$/),
    bfd: fc.boolean(),
    multihop: fc.integer({ min: 1, max: 255 }),
    source: fc.constantFrom('flag', 'tag', 'topology'),
  },
  { requiredKeys: ['address', 'as', 'source'] },
);

const configArb: fc.Arbitrary<BirdConfig> = fc
  .record({
    peers: fc.uniqueArray(peerArb, { maxLength: 4, selector: (p) => peerProtocol(p) }),
    blocks: fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 30 }),
    v6: fc.boolean(),
    gr: fc.integer({ min: 0, max: 4095 }),
    hold: fc.integer({ min: 3, max: 300 }),
    kernel: fc.boolean(),
    localAs: fc.integer({ min: 1, max: 4_294_967_295 }),
    ip6: fc.boolean(),
  })
  .map(({ peers, blocks, v6, gr, hold, kernel, localAs, ip6 }) => ({
    ...base,
    ...(ip6 ? { localAddress6: 'fd00:1::11' } : {}),
    localAs,
    networks: v6 ? [...base.networks, { name: 'six', cidr: 'fd10::/48' }] : base.networks,
    announcements: [
      ...blocks.map((b) => ann(`10.112.${b >> 4}.${(b & 15) << 4}/28`)),
      ...(v6 ? [ann('fd10::/64', 'group')] : []),
    ],
    peers,
    gracefulRestart: gr,
    timers: { hold, keepalive: Math.max(1, Math.floor(hold / 3)), connectRetry: 1, errorWait: 1 },
    kernel,
  }));

describe('BIRD configuration rendering', () => {
  it('renders configurations that BIRD 2 parses, for random inputs', () => {
    fc.assert(
      fc.property(configArb, (c) => {
        // BFD over multihop needs a local address of the peer's family.
        c.peers = c.peers.map((p) =>
          p.multihop !== undefined && p.address.includes(':') && c.localAddress6 === undefined
            ? { ...p, bfd: false }
            : p,
        );
        checkBirdConfig(c);
        const text = renderBirdConfig(c);
        const r = birdParse(text);
        assert.ok(r.ok, `${r.msg}\n${text}`);
        for (const a of c.announcements) assert.match(text, new RegExp(`route ${a.prefix} `));
        for (const p of c.peers)
          assert.match(text, new RegExp(`neighbor ${p.address} as ${p.as};`));
      }),
      { numRuns: 40 },
    );
  });

  it('announces IPv6 prefixes on an ipv6 channel with the host’s ip6 as next hop', () => {
    const c: BirdConfig = {
      ...base,
      localAddress6: 'fd00:1::11',
      networks: [...base.networks, { name: 'six', cidr: 'fd10::/48' }],
      announcements: [...base.announcements, ann('fd10::/64', 'group'), ann('fd10:0:0:1::/120')],
      peers: [...base.peers, { address: 'fd00:1::1', as: 65100, source: 'flag' }],
    };
    const text = renderBirdConfig(c);
    assert.ok(birdParse(text).ok, text);
    assert.match(
      text,
      /protocol static romana6 \{\n {2}ipv6;\n {2}route fd10::\/64 unreachable; # group\n {2}route fd10:0:0:1::\/120 unreachable; # block\n\}/,
    );
    assert.match(
      text,
      /filter romana_export6 \{\n {2}if proto = "romana6" && net ~ \[ fd10::\/48\+ \] then accept;/,
    );
    // Both sessions (over IPv4 and over IPv6) carry both families, IPv6 with the ip6 as next hop.
    const v6channel =
      'ipv6 { import none; export filter romana_export6; next hop address fd00:1::11; };';
    assert.equal(text.split(v6channel).length - 1, 2);
    assert.match(text, /local fd00:1::11 as 65001;\n {2}neighbor fd00:1::1 as 65100;/);
    assert.match(text, /local 192\.168\.1\.11 as 65001;\n {2}neighbor 192\.168\.1\.1 as 65100;/);
    const without = renderBirdConfig({ ...c, localAddress6: undefined });
    assert.match(without, /ipv6 \{ import none; export filter romana_export6; next hop self; \};/);
    assert.throws(() => checkBirdConfig({ ...c, localAddress6: '10.0.0.1' }), /ip6: '10\.0\.0\.1'/);
  });

  it('takes the announced routes out of a rendered configuration, and nothing else', () => {
    fc.assert(
      fc.property(configArb, (c) => {
        const text = renderBirdConfig(c);
        const empty = renderBirdConfig({ ...c, announcements: [] });
        assert.equal(withoutAnnouncements(text), empty);
        assert.equal(withoutAnnouncements(empty), empty);
      }),
      { numRuns: 40 },
    );
    // Inside an operator's text too; a static protocol of its own keeps its routes.
    const site = `protocol static mine {\n  ipv4;\n  route 10.9.0.0/24 unreachable;\n}\n`;
    const text = `${site}${renderBirdConfig({ ...base, kernel: false })}`;
    const out = withoutAnnouncements(text);
    assert.equal(out, `${site}${renderBirdConfig({ ...base, kernel: false, announcements: [] })}`);
    assert.ok(birdParse(out).ok, out);
    assert.doesNotMatch(out, /route 10\.112\./);
  });

  it('renders the same text for the same input (no reload without a change)', () => {
    assert.equal(renderBirdConfig(base), renderBirdConfig(structuredClone(base)));
  });

  it('lets out only static Romana routes inside Romana networks', () => {
    const text = renderBirdConfig(base);
    assert.match(
      text,
      /filter romana_export4 \{\n {2}if proto = "romana4" && net ~ \[ 10\.112\.0\.0\/16\+ \] then accept;\n {2}reject;\n\}/,
    );
    assert.match(text, /ipv4 \{ import none; export filter romana_export4; next hop self; \};/);
    assert.match(text, /route 10\.112\.0\.0\/20 unreachable;/);
    assert.ok(birdParse(text).ok);
  });

  it('refuses values BIRD would misread, naming the field', () => {
    const bad: Array<[Partial<BirdConfig>, RegExp]> = [
      [{ localAs: 0 }, /local AS: '0'/],
      [{ routerId: 'fd00::1' }, /router id/],
      [{ peers: [{ ...base.peers[0]!, password: 'a"b' }] }, /peers\[0\]\.password/],
      [{ peers: [{ ...base.peers[0]!, as: 2 ** 32 }] }, /peers\[0\]\.as/],
      [{ peers: [{ ...base.peers[0]!, address: '10.0.0.300' }] }, /peers\[0\]\.address/],
      [{ peers: [base.peers[0]!, base.peers[0]!] }, /peers\[1\]\.address: '192.168.1.1' twice/],
      [{ peers: [{ ...base.peers[0]!, multihop: 0 }] }, /peers\[0\]\.multihop/],
      [{ timers: { ...DEFAULT_TIMERS, hold: 2, keepalive: 1 } }, /hold time: '2'/],
      [{ timers: { ...DEFAULT_TIMERS, hold: 9, keepalive: 9 } }, /keepalive time/],
      [{ timers: { ...DEFAULT_TIMERS, errorWait: 0 } }, /error wait time: '0'/],
      [{ gracefulRestart: -1 }, /graceful restart/],
      [
        { peers: [{ ...base.peers[0]!, address: 'fd00::1', multihop: 2, bfd: true }] },
        /peers\[0\]\.bfd: BFD with a multihop peer/,
      ],
    ];
    for (const [patch, msg] of bad) {
      assert.throws(
        () => checkBirdConfig({ ...base, ...patch }),
        (e: unknown) => isRomanaError(e, 'InvalidInput') && msg.test(e.message),
        msg.source,
      );
    }
  });

  it('renders an operator template (eta, unescaped) that BIRD parses', () => {
    const tpl =
      '<%= it.defaultConfig %>\n# prefixes: <%= it.prefixes.join(" ") %>\n' +
      'protocol bgp route_server { local as <%= it.localAs %>; neighbor 10.9.9.9 as 65000; multihop 4;\n' +
      '  ipv4 { import none; export filter romana_export4; }; }\n';
    const text = renderTemplate(tpl, 'site.eta', base);
    assert.match(text, /# prefixes: 10\.112\.0\.0\/20 10\.112\.64\.0\/28\n/);
    assert.ok(text.startsWith(renderBirdConfig(base)));
    const r = birdParse(text);
    assert.ok(r.ok, r.msg);
  });

  it('reports a broken template as a TemplateError naming the file', () => {
    assert.throws(
      () => renderTemplate('<%= it.nope.deeper %>', 'broken.eta', base),
      (e: unknown) => e instanceof TemplateError && /template broken\.eta: /.test(e.message),
    );
    assert.throws(
      () => renderTemplate('<% if ( %>', 'syntax.eta', base),
      (e: unknown) => e instanceof TemplateError && /syntax\.eta/.test(e.message),
    );
  });

  it('renders ToR and spine examples that BIRD 2 parses', () => {
    const racks: Rack[] = [1, 2].map((n) => ({
      name: `rack-${n}`,
      tor: `t${n}`,
      as: 65000 + n,
      subnet: `192.168.${n}`,
      uplink: `172.31.${n}`,
      cidr: `10.112.${(n - 1) * 128}.0/17`,
      hosts: [`h${2 * n - 1}`, `h${2 * n}`],
    }));
    for (const text of [...racks.map((r) => torConfig(r, 3)), spineConfig(racks, 3)]) {
      const r = birdParse(text);
      assert.ok(r.ok, `${r.msg}\n${text}`);
    }
    assert.match(torConfig(racks[0]!), /route 10\.112\.0\.0\/17 unreachable;/);
    // docs/bgp.md's worked example is what the code renders: host h1, ToR t1 and the spine.
    const doc = readFileSync(path.resolve(import.meta.dirname, '../../docs/bgp.md'), 'utf8');
    const h1 = renderBirdConfig({
      ...base,
      localAs: 65100,
      announcements: [{ ...ann('10.112.0.0/18', 'group'), group: 'slot-h1' }],
      peers: [{ address: '192.168.1.1', as: 65001, source: 'topology' }],
    });
    for (const text of [h1, torConfig(racks[0]!), spineConfig(racks)]) {
      assert.ok(doc.includes(`\`\`\`\n${text}\`\`\``), `docs/bgp.md lacks:\n${text}`);
    }
  });
});
