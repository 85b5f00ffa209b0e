/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against real
 * romanad processes: one with the 1,024-host example (examples/topology-1024.json: 8 zones of 16
 * racks of 8 hosts) and pods on half of its hosts; one that wants tokens. The page's counts are checked against romanad's own answers, its updates
 * are timed, its search is checked against the route worked out from the topology, and no case
 * may leave an error in the browser's console. Screenshots go to a temp dir printed below.
 *
 * Needs `npm run build` (dist/ui and romanad's bundle).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { API_LIMITS } from '../../src/advisor/limits.ts';
import { simulate } from '../../src/advisor/simulate.ts';
import type { SimulationReport } from '../../src/advisor/types.ts';
import type { Address, Block, HostDetail, Topology } from '../../src/client/types.ts';
import { startRomanad, type Romanad } from '../helpers/romanad.ts';
import { breakableRelay, countTree, ok, pool } from './dashboard-helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const HOSTS = 1_024;
const READ_TOKEN = 'dash-read-0123456789abcdef';
const ADMIN_TOKEN = 'dash-admin-0123456789abcdef';
describe('the dashboard in chromium', () => {
  let d: Romanad;
  let guarded: Romanad;
  let browser: Browser;
  /** The example's hosts; pods run on the first half. */
  let hosts: string[] = [];
  const shots = mkdtempSync(path.join(tmpdir(), 'romana-dashboard-'));
  process.stdout.write(`dashboard screenshots: ${shots}\n`);

  before(async () => {
    assert.ok(
      existsSync(path.join(ROOT, 'dist/ui/app.js')),
      'dist/ui is missing: run `npm run build` first',
    );
    const example = (f: string) => ['--initial-topology-file', path.join(ROOT, 'examples', f)];
    const dir = mkdtempSync(path.join(tmpdir(), 'romana-dash-tokens-'));
    const tokenFile = path.join(dir, 'tokens.yaml');
    writeFileSync(
      tokenFile,
      `- {token: ${ADMIN_TOKEN}, role: admin, name: ops}\n- {token: ${READ_TOKEN}, role: read-only, name: viewer}\n`,
    );
    chmodSync(tokenFile, 0o600);
    [d, guarded, browser] = await Promise.all([
      startRomanad(['--store', 'memory:', ...example('topology-1024.json')]),
      startRomanad(['--store', 'memory:', ...example('topology.json'), '--token-file', tokenFile]),
      chromium.launch({
        executablePath: '/usr/bin/chromium',
        args: ['--no-sandbox', '--headless'],
      }),
    ]);
    hosts = (await ok<{ hosts: Array<{ name: string }> }>(`${d.url}/hosts`, 'GET')).hosts.map(
      (h) => h.name,
    );
    assert.equal(hosts.length, HOSTS);
    await pool(hosts.slice(0, HOSTS / 2), 16, (host) =>
      ok(`${d.url}/address`, 'POST', { name: `pod-${host}.web`, host, tenant: 'web' }),
    );
    await ok(`${guarded.url}/hosts`, 'POST', { name: 'g1', ip: '172.17.0.1' }, ADMIN_TOKEN);
  });

  after(async () => {
    await browser?.close();
    await Promise.all([d?.stop(), guarded?.stop()]);
  });

  /** A fresh page whose console errors and uncaught exceptions are collected. */
  /** A fresh page; `elsewhere`: requests it sent to any origin but romanad's. */
  async function open(
    url: string,
  ): Promise<{ page: Page; ctx: BrowserContext; errors: string[]; elsewhere: string[] }> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const page = await ctx.newPage();
    const errors: string[] = [];
    const elsewhere: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).origin !== new URL(url).origin) elsewhere.push(r.url());
    });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(`${url}/ui/`);
    await page.waitForSelector('[data-status="live"]');
    return { page, ctx, errors, elsewhere };
  }

  const total = (page: Page, what: string) =>
    page.$eval(`[data-total="${what}"]`, (el) => Number(el.textContent));

  it('shows the groups and hosts romanad holds, first drawn in under 1 s', async () => {
    const t = await ok<Topology>(`${d.url}/topology`, 'GET');
    const want = countTree(t);
    assert.equal(want.hosts, HOSTS);
    const warm = await open(d.url); // the browser's first page pays for starting its processes
    await warm.ctx.close();
    // Each load is a fresh context (no cache). The machine is shared, so a load can stall on
    // a busy CPU: the best of three is what the page does.
    const renders: number[] = [];
    let last: Awaited<ReturnType<typeof open>> | undefined;
    for (let i = 0; i < 3; i++) {
      await last?.ctx.close();
      last = await open(d.url);
      renders.push(
        await last.page.evaluate(
          () => performance.getEntriesByName('romana:rendered')[0]!.startTime,
        ),
      );
    }
    const { page, ctx, errors, elsewhere } = last!;
    // Everything the page loads comes from romanad: no CDN, no web font.
    assert.deepEqual(elsewhere, []);
    const files = await page.evaluate(() =>
      performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname),
    );
    assert.ok(files.includes('/ui/app.js') && files.includes('/ui/app.css'), files.join(' '));
    const timings = await page.evaluate(() =>
      [...performance.getEntriesByType('resource'), ...performance.getEntriesByType('mark')]
        .map(
          (e) =>
            `${e.name.replace(/^.*\//, '')} ${e.startTime.toFixed(0)}+${e.duration.toFixed(0)}`,
        )
        .join(', '),
    );
    const best = Math.min(...renders);
    process.stdout.write(
      `first render of ${HOSTS} hosts, ms after navigation: ${renders.map((r) => r.toFixed(0)).join(', ')} (last: ${timings})\n`,
    );
    assert.ok(best < 1_000, `first render took ${renders.join(', ')} ms`);
    assert.equal(await total(page, 'groups'), want.groups);
    assert.equal(await total(page, 'hosts'), HOSTS);
    assert.equal(await total(page, 'allocated'), HOSTS / 2);
    const groupRows = () =>
      page.$$eval('[data-group]', (els) =>
        els.map((el) => [
          el.querySelector('.gname')!.textContent,
          Number(el.querySelector('[data-hosts]')!.getAttribute('data-hosts')),
        ]),
      );
    // A big topology starts as its upper level: the 8 zones, closed.
    let rows = await groupRows();
    assert.equal(rows.length, 8);
    assert.equal((await page.$$('[data-host]')).length, 0);
    // Opening a zone shows its 16 racks; opening a rack its 8 hosts.
    await page.click('[data-group="pods/zone-2"] > .grow');
    await page.click('[data-group="pods/zone-2/rack-2-3"] > .grow');
    await page.waitForSelector('[data-group="pods/zone-2/rack-2-3"] [data-host]');
    rows = await groupRows();
    assert.equal(rows.length, 8 + 16);
    for (const [name, n] of rows) assert.equal(n, want.hostsIn.get(String(name)), String(name));
    assert.equal((await page.$$('[data-group="pods/zone-2/rack-2-3"] [data-host]')).length, 8);
    await page.screenshot({ path: path.join(shots, 'topology.png') });
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it('shows a pod allocated, and a block freed, within 1 s without a reload', async () => {
    const { page, ctx, errors } = await open(d.url);
    const [pods, blocks] = [await total(page, 'allocated'), await total(page, 'blocks')];
    // The last host holds no pod yet: its first pod takes a block.
    let t0 = Date.now();
    await ok(`${d.url}/address`, 'POST', { name: 'live-1', host: hosts[HOSTS - 1] });
    await page.waitForFunction(
      ([p, b]) =>
        Number(document.querySelector('[data-total="allocated"]')!.textContent) === p &&
        Number(document.querySelector('[data-total="blocks"]')!.textContent) === b,
      [pods + 1, blocks + 1],
      { timeout: 5_000 },
    );
    const shown = Date.now() - t0;
    t0 = Date.now();
    await ok(`${d.url}/address?addressName=live-1`, 'DELETE');
    await page.waitForFunction(
      (b) => Number(document.querySelector('[data-total="blocks"]')!.textContent) === b,
      blocks,
      { timeout: 5_000 },
    );
    const freed = Date.now() - t0;
    process.stdout.write(`allocation shown after ${shown} ms, freed block after ${freed} ms\n`);
    assert.ok(shown < 1_000, `allocation shown after ${shown} ms`);
    assert.ok(freed < 1_000, `freed block shown after ${freed} ms`);
    assert.equal(await total(page, 'allocated'), pods);
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it('after a broken stream, resumes from its last revision: changes made meanwhile show', async () => {
    const relay = await breakableRelay(new URL(d.url));
    after(() => relay.close());
    const { page, ctx, errors } = await open(relay.url);
    const [pods, blocks] = [await total(page, 'allocated'), await total(page, 'blocks')];
    relay.hold(true);
    relay.cut();
    await page.waitForSelector('[data-status="reconnecting"]');
    // While the page cannot reach romanad: pods on two hosts without one (two new blocks),
    // and the only pod of another host gone (its block freed).
    await ok(`${d.url}/address`, 'POST', { name: 'during-break-1', host: hosts[HOSTS - 2] });
    await ok(`${d.url}/address`, 'POST', { name: 'during-break-2', host: hosts[HOSTS - 3] });
    await ok(`${d.url}/address?addressName=pod-${hosts[3]}.web`, 'DELETE');
    relay.hold(false);
    await page.waitForSelector('[data-status="live"]');
    await page.waitForFunction(
      ([p, b]) =>
        Number(document.querySelector('[data-total="allocated"]')!.textContent) === p &&
        Number(document.querySelector('[data-total="blocks"]')!.textContent) === b,
      [pods + 1, blocks + 1] as const,
      { timeout: 5_000 },
    );
    // Against romanad's own lists, nothing missed, nothing twice.
    const list = await ok<{ blocks: Block[] }>(`${d.url}/blocks`, 'GET');
    const held = list.blocks.filter((b) => b.host !== '');
    assert.equal(await total(page, 'blocks'), held.length);
    assert.equal(
      await total(page, 'allocated'),
      held.reduce((n, b) => n + b.allocated_ip_count, 0),
    );
    // Chromium logs the stream it saw cut (net::ERR_INCOMPLETE_CHUNKED_ENCODING); nothing else.
    const cutLine = 'console: Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING';
    assert.deepEqual(
      errors.filter((e) => e !== cutLine),
      [],
    );
    await ctx.close();
  });

  it('finds a pod by name and by IP, with its host, block, group and route', async () => {
    const { page, ctx, errors } = await open(d.url);
    const pod = await ok<Address>(`${d.url}/address?addressName=pod-${hosts[7]}.web`, 'GET');
    const detail = await ok<HostDetail>(`${d.url}/hosts/${pod.host}`, 'GET');
    const group = detail.groups[0]!;
    const { hostsIn } = countTree(await ok<Topology>(`${d.url}/topology`, 'GET'));
    // The agent routes a group that holds one host as one prefix, else each block.
    const dst = hostsIn.get(group.group) === 1 ? group.cidr : pod.block;
    const blocks = await ok<{ blocks: Block[] }>(`${d.url}/blocks`, 'GET');
    const used = blocks.blocks.find((b) => b.cidr === pod.block)!.allocated_ip_count;
    for (const [query, i] of [
      [pod.name, 1],
      [pod.ip, 2],
    ] as const) {
      await page.fill('input[name=q]', query);
      await page.click('form.search button');
      await page.waitForSelector(
        `[data-testid=search-result] [data-field=name]:text-is("${pod.name}")`,
      );
      const field = (f: string) =>
        page.textContent(`[data-testid=search-result] [data-field=${f}]`);
      assert.equal(await field('ip'), pod.ip);
      assert.equal(await field('host'), pod.host);
      assert.equal(await field('block'), `${pod.block} · ${used}/16 used`);
      assert.equal(await field('group'), `${group.group} ${group.cidr} (network ${group.network})`);
      assert.match((await field('route'))!, new RegExp(`^${dst} via ${detail.ip} `));
      // The host's row is shown, marked, in its opened group.
      await page.waitForSelector(`.host.focused[data-host="${pod.host}"]`);
      await page.screenshot({ path: path.join(shots, `search-${i}.png`) });
    }
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it('charts the advisor for the live topology, with the figures romanad simulates', async () => {
    const { page, ctx, errors } = await open(d.url);
    await page.click('[data-tab=advisor]');
    await page.waitForSelector('[data-testid=advisor-table] tr[data-mask]', { timeout: 30_000 });
    // The same question asked of romanad directly: the example's /28 blocks, 3 smaller, 2 larger.
    const masks = [25, 26, 27, 28, 29, 30];
    // The live pods: each host as many as it holds now.
    const report = await ok<SimulationReport>(`${d.url}/topology/simulate`, 'POST', {
      pods: 'live',
      block_masks: masks,
    });
    assert.equal(report.pods, await total(page, 'allocated'));
    for (const b of report.block_sizes) {
      const cell = (col: string) =>
        page.textContent(
          `[data-testid=advisor-table] tr[data-mask="${b.block_mask}"] [data-col=${col}]`,
        );
      assert.equal(await cell('host'), String(b.routes!.host.romana.max), `/${b.block_mask} host`);
      assert.equal(await cell('tor'), String(b.routes!.tor.romana.max), `/${b.block_mask} tor`);
      assert.equal(
        await cell('spine'),
        String(b.routes!.spine.romana.max),
        `/${b.block_mask} spine`,
      );
      assert.match((await cell('wasted'))!, new RegExp(`^${b.addresses!.wasted} `));
    }
    assert.deepEqual(
      report.block_sizes.map((b) => b.block_mask),
      masks,
    );
    // Two uPlot charts, drawn.
    assert.equal((await page.$$('.chart .uplot canvas')).length, 2);
    await page.screenshot({ path: path.join(shots, 'advisor.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it('lists policies of both forms and VIPs; a VIP added shows live', async () => {
    // A 2.x policy, a Kubernetes-form one (its pod selector shown in words), and a VIP.
    await ok(`${d.url}/policies`, 'POST', {
      id: 'dash-web-in',
      description: 'web from api',
      direction: 'ingress',
      applied_to: [{ tenant_id: 'web' }],
      ingress: [
        {
          peers: [{ tenant_id: 'api', segment_id: 'v2' }],
          rules: [{ protocol: 'tcp', ports: [80], port_ranges: [[8000, 8080]] }],
        },
      ],
    });
    await ok(`${d.url}/policies`, 'POST', {
      id: 'kube.shop.allow-web',
      namespace: 'shop',
      podSelector: {
        matchLabels: { app: 'web' },
        matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }],
      },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{}],
      egress: [],
    });
    await ok(`${d.url}/vips/web.default`, 'PUT', { ip: '192.0.2.10', host: hosts[0] });
    const { page, ctx, errors } = await open(d.url);
    // A table's rows as cell texts, by their first cell (the page keeps arrival order).
    const rows = async (table: string) =>
      (
        await page.$$eval(`[data-testid=${table}] tbody tr`, (trs) =>
          trs.map((tr) => [...(tr as HTMLTableRowElement).cells].map((c) => c.textContent ?? '')),
        )
      ).sort((a, b) => a[0]!.localeCompare(b[0]!));
    await page.click('[data-tab=policies]');
    await page.waitForSelector('[data-testid=policies] tbody tr');
    assert.deepEqual(await rows('policies'), [
      [
        'dash-web-in',
        'ingress',
        'tenant web',
        'tenant api / segment v2: tcp 80,8000-8080',
        'web from api',
      ],
      [
        'kube.shop.allow-web',
        'Ingress + Egress',
        'namespace shop: app=web, tier In (fe,be)',
        '1 ingress, 0 egress rule(s)',
        '',
      ],
    ]);
    assert.equal(await page.textContent('[data-tab=policies]'), 'Policies (2)');
    await page.screenshot({ path: path.join(shots, 'policies.png') });
    await page.click('[data-tab=vips]');
    await page.waitForSelector('[data-testid=vips] tbody tr');
    assert.deepEqual(await rows('vips'), [['web.default', '192.0.2.10', hosts[0], '']]);
    // A VIP added while the page is open: shown from the watch stream, no reload.
    const t0 = Date.now();
    await ok(`${d.url}/vips/db.shop`, 'PUT', {
      ip: '192.0.2.11',
      host: hosts[1],
      namespace: 'shop',
    });
    await page.waitForSelector('[data-testid=vips] tbody tr:nth-child(2)', { timeout: 5_000 });
    const shown = Date.now() - t0;
    process.stdout.write(`new VIP shown after ${shown} ms\n`);
    assert.ok(shown < 1_000, `new VIP shown after ${shown} ms`);
    assert.deepEqual(await rows('vips'), [
      ['db.shop', '192.0.2.11', hosts[1], 'shop'],
      ['web.default', '192.0.2.10', hosts[0], ''],
    ]);
    assert.equal(await page.textContent('[data-tab=vips]'), 'VIPs (2)');
    await page.screenshot({ path: path.join(shots, 'vips.png') });
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it('a romanad installed without sources serves the page and runs the advisor beside its bundle', async () => {
    // The package's layout (bin/, dist/, package.json), run from another directory.
    const pkg = mkdtempSync(path.join(tmpdir(), 'romana-dash-pkg-'));
    for (const f of ['bin', 'dist', 'package.json']) {
      cpSync(path.join(ROOT, f), path.join(pkg, f), { recursive: true });
    }
    const proc = spawn(
      process.execPath,
      [path.join(pkg, 'bin/romanad.js'), '--store', 'memory:', '--port', '0'],
      { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        proc.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const m = /listening on (\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        proc.once('exit', (code) => reject(new Error(`romanad exited with ${code}`)));
      });
      const page = await fetch(`${url}/ui/`);
      assert.equal(page.status, 200);
      assert.equal(await page.text(), readFileSync(path.join(ROOT, 'dist/ui/index.html'), 'utf8'));
      assert.equal((await fetch(`${url}/ui/app.js`)).status, 200);
      // The advisor's worker thread runs from beside the bundle too (no sources, no tsx).
      const input = { shape: { zones: 1, racks: 2, hosts: 2, cidr: '10.0.0.0/24' }, pods: 5 };
      const sim = await ok<SimulationReport>(`${url}/topology/simulate`, 'POST', input);
      assert.deepEqual(sim, simulate(input, API_LIMITS));
    } finally {
      proc.kill();
      rmSync(pkg, { recursive: true, force: true });
    }
  });

  /** A page on the token-protected romanad; `stale`: a refused token is in sessionStorage. */
  async function guardedPage(stale?: string) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    if (stale !== undefined) {
      await ctx.addInitScript((t) => sessionStorage.setItem('romanad-token', t), stale);
    }
    const page = await ctx.newPage();
    const consoleErrors: string[] = [];
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    const refused: string[] = [];
    page.on('response', (r) => {
      if (r.status() === 401) refused.push(new URL(r.url()).pathname);
    });
    await page.goto(`${guarded.url}/ui/`);
    await page.waitForSelector('[data-testid=token-form]');
    return { ctx, page, consoleErrors, errors, refused };
  }

  async function enterToken(page: Page): Promise<void> {
    await page.fill('input[name=token]', READ_TOKEN);
    await page.click('[data-testid=token-form] button');
    await page.waitForSelector('[data-status="live"]');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('romanad-token')), READ_TOKEN);
  }

  it('asks for a token when romanad wants one, then works live with a read-only token', async () => {
    const { ctx, page, consoleErrors, errors, refused } = await guardedPage();
    await page.screenshot({ path: path.join(shots, 'token.png') });
    await enterToken(page);
    const hosts = await total(page, 'hosts');
    assert.equal(hosts, 1);
    // The watch stream carries the token too: a pod allocated meanwhile shows.
    const before = await total(page, 'allocated');
    await ok(
      `${guarded.url}/address`,
      'POST',
      { name: `p-${Date.now()}`, host: 'g1' },
      ADMIN_TOKEN,
    );
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-total="allocated"]')!.textContent) === n,
      before + 1,
      { timeout: 5_000 },
    );
    // The page knew from romanad's page that a token is needed: no request was refused.
    assert.deepEqual(refused, []);
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(errors, []);
    await ctx.close();
  });

  it('a token romanad refuses (401) makes the page ask again, and it then retries', async () => {
    const { ctx, page, consoleErrors, errors, refused } =
      await guardedPage('not-a-token-0123456789');
    assert.ok(refused.length > 0, 'the stale token was sent and refused');
    assert.match((await page.textContent('[data-testid=token-form]')) ?? '', /token refused/);
    await enterToken(page);
    assert.equal(await total(page, 'hosts'), 1);
    assert.deepEqual(errors, []);
    // Chromium logs each refused request itself; nothing else may be in the console.
    assert.ok(consoleErrors.length > 0);
    for (const line of consoleErrors) assert.match(line, /status of 401 \(Unauthorized\)/);
    await ctx.close();
  });
});
