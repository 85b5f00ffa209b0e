/**
 * DEL when romanad cannot release: the local cleanup still happens, and the runtime hears a
 * retryable error (code 11) for transient causes, so the address is not leaked for good. Real
 * HTTP against a server each test steers, real `ip` in a throwaway network namespace.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { cmdDel, type Deps } from './commands.ts';
import { deriveNames, parseNetConf, type CniEnv } from './config.ts';
import { CniError } from './errors.ts';
import { main } from './main.ts';
import { addDiverts } from './policy.ts';
import { Romanad } from './romanad.ts';
import { createNetns, netnsHandle, uniqueNetnsName } from '../../test/helpers/netns.ts';

const NS = uniqueNetnsName('node-del');
/** The plugin's own namespace: commands run in it through the project's `Exec` seam. */
const ns = netnsHandle(NS);
const exec = ns.exec;
const env: CniEnv = {
  command: 'DEL',
  containerId: 'c0ffee0123456789',
  netns: '',
  ifname: 'eth1',
  args: {},
};
const names = deriveNames(env);

/** How the stand-in romanad answers DELETE /address: a status, or never. */
let answer: number | 'never' = 200;
const deletes: string[] = [];
const server = http.createServer((req, res) => {
  if (req.method === 'DELETE') deletes.push(req.url ?? '');
  if (answer === 'never') return;
  res.statusCode = answer;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(answer === 200 ? {} : { code: 'Unavailable', details: 'store is down' }));
});
let url = '';

function links(): string[] {
  const out = ns.ip('-j', 'link', 'show');
  return (JSON.parse(out) as { ifname: string }[]).map((l) => l.ifname).sort();
}

function deps(romanadUrl = url, timeoutMs = 2_000): Deps {
  return { api: new Romanad({ url: romanadUrl, timeoutMs }), exec, log: () => {} };
}

const conf = () =>
  parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', romanad_url: url }));

describe('DEL when romanad cannot release the address', () => {
  before(async () => {
    createNetns(NS);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    ns.remove();
  });
  beforeEach(() => {
    answer = 200;
    deletes.length = 0;
    // The attachment's host veth and one named the old way (romana-<id8>), as after an upgrade.
    for (const v of [names.hostVeth, names.legacyHostVeth]) {
      ns.tryRun(['ip', 'link', 'del', v]);
      ns.ip('link', 'add', v, 'type', 'veth', 'peer', 'name', `p${v.slice(7)}`);
    }
  });

  it('fails with code 11 when romanad is unreachable, and still removes both host veths', async () => {
    const err = await cmdDel(conf(), env, deps('http://127.0.0.1:1')).then(
      () => assert.fail('DEL succeeded'),
      (e: unknown) => e as CniError,
    );
    assert.ok(err instanceof CniError);
    assert.equal(err.code, 11);
    assert.match(err.message, /could not release c0ffee01\.eth1/);
    assert.match(err.details, /ECONNREFUSED/);
    assert.deepEqual(links(), ['lo']);
  });

  it('fails with code 11 when romanad answers 503', async () => {
    answer = 503;
    await assert.rejects(cmdDel(conf(), env, deps()), (e: CniError) => {
      assert.equal(e.code, 11);
      assert.match(e.details, /503 Unavailable: store is down/);
      return true;
    });
    assert.deepEqual(deletes, ['/address?addressName=c0ffee01.eth1']);
    assert.deepEqual(links(), ['lo']);
  });

  it('fails with code 11 when romanad does not answer in time', async () => {
    answer = 'never';
    await assert.rejects(cmdDel(conf(), env, deps(url, 300)), (e: CniError) => {
      assert.equal(e.code, 11);
      assert.match(e.details, /no answer within 300 ms/);
      return true;
    });
  });

  it('fails with code 100 when romanad refuses (a token without the right role)', async () => {
    answer = 403;
    await assert.rejects(cmdDel(conf(), env, deps()), (e: CniError) => e.code === 100);
  });

  it('succeeds when romanad has no such address (nothing left to release)', async () => {
    answer = 404;
    await cmdDel(conf(), env, deps());
    assert.deepEqual(links(), ['lo']);
  });

  it('succeeds when nothing at all is left: no address, no veth', async () => {
    answer = 404;
    for (const v of [names.hostVeth, names.legacyHostVeth]) ns.ip('link', 'del', v);
    await cmdDel(conf(), env, deps());
    await cmdDel(conf(), env, deps());
    assert.equal(deletes.length, 2);
  });

  it('with use_policy, removes the divert rules of both host veths, also when release fails', async () => {
    for (const chain of [
      'ROMANA-INPUT',
      'ROMANA-FORWARD-OUT',
      'ROMANA-FORWARD-IN',
      'ROMANA-OUTPUT',
    ]) {
      ns.tryRun(['iptables', '-w', '-N', chain]);
    }
    await addDiverts(exec, names.hostVeth);
    await addDiverts(exec, names.legacyHostVeth);
    const rules = () =>
      ns
        .run(['iptables', '-w', '-S'])
        .split('\n')
        .filter((l) => l.includes('romana-') && l.startsWith('-A'));
    assert.equal(rules().length, 8);
    answer = 503;
    const policyConf = parseNetConf(
      JSON.stringify({ cniVersion: '1.0.0', name: 'n', romanad_url: url, use_policy: true }),
    );
    await assert.rejects(cmdDel(policyConf, env, deps()), (e: CniError) => e.code === 11);
    assert.deepEqual(rules(), []);
    assert.deepEqual(links(), ['lo']);
  });

  it('through the entry: prints the code 11 error and exits 1; the retry releases and exits 0', async () => {
    answer = 503;
    const out: string[] = [];
    const io = {
      env: {
        CNI_COMMAND: 'DEL',
        CNI_CONTAINERID: env.containerId,
        CNI_IFNAME: env.ifname,
        CNI_NETNS: '',
      },
      stdin: () => JSON.stringify({ cniVersion: '1.0.0', name: 'n', romanad_url: url }),
      stdout: (t: string) => void out.push(t),
      exec,
    };
    assert.equal(await main([], io), 1);
    const err = JSON.parse(out.join('')) as { cniVersion: string; code: number; msg: string };
    assert.equal(err.cniVersion, '1.0.0');
    assert.equal(err.code, 11);
    answer = 200;
    out.length = 0;
    assert.equal(await main([], io), 0);
    assert.deepEqual(out, []);
    assert.equal(deletes.length, 2);
  });
});
