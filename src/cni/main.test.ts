import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Exec } from '../exec.ts';
import { main, type Io } from './main.ts';

const noExec: Exec = { run: async () => assert.fail('no command should run') };

function io(env: Record<string, string>, stdin: string): Io & { out: string[] } {
  const out: string[] = [];
  return { env, stdin: () => stdin, stdout: (t) => void out.push(t), exec: noExec, out };
}

describe('the plugin entry', () => {
  it('prints exactly one JSON document for VERSION', async () => {
    const x = io({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    assert.equal(await main([], x), 0);
    assert.equal(x.out.length, 1);
    assert.equal((JSON.parse(x.out[0]!) as { cniVersion: string }).cniVersion, '1.0.0');
  });

  it('prints the error JSON in the config version and exits 1', async () => {
    const x = io(
      { CNI_COMMAND: 'ADD', CNI_IFNAME: 'eth0', CNI_NETNS: '/var/run/netns/p' },
      '{"cniVersion":"0.3.1","name":"n"}',
    );
    assert.equal(await main([], x), 1);
    const err = JSON.parse(x.out.join('')) as Record<string, unknown>;
    assert.equal(err['cniVersion'], '0.3.1');
    assert.equal(err['code'], 4);
    assert.match(String(err['msg']), /CNI_CONTAINERID/);
  });

  it('answers an unsupported version with code 1', async () => {
    const x = io({ CNI_COMMAND: 'STATUS' }, '{"cniVersion":"0.1.0"}');
    assert.equal(await main([], x), 1);
    assert.equal((JSON.parse(x.out.join('')) as { code: number }).code, 1);
  });

  it('reports DEL as success even when the input is unusable, printing nothing', async () => {
    const x = io({ CNI_COMMAND: 'DEL' }, 'not json');
    assert.equal(await main([], x), 0);
    assert.deepEqual(x.out, []);
  });

  it('answers STATUS with code 50 when romanad cannot be reached, the cause in details', async () => {
    const x = io(
      { CNI_COMMAND: 'STATUS' },
      '{"cniVersion":"1.1.0","romanad_url":"http://127.0.0.1:1","romana_host_name":"h"}',
    );
    assert.equal(await main([], x), 1);
    const err = JSON.parse(x.out.join('')) as { code: number; details: string };
    // STATUS wraps every cause in 50 (not available); the cause is in details.
    assert.equal(err.code, 50);
    assert.match(err.details, /ECONNREFUSED/);
  });

  const addEnv = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'abcdef0123',
    CNI_NETNS: '/proc/self/ns/net',
    CNI_IFNAME: 'eth0',
  };

  it('answers ADD with code 11 (try again later) when romanad cannot be reached', async () => {
    const x = io(addEnv, '{"cniVersion":"1.0.0","romanad_url":"http://127.0.0.1:1"}');
    assert.equal(await main([], x), 1);
    const err = JSON.parse(x.out.join('')) as { code: number; msg: string };
    assert.equal(err.code, 11);
    assert.match(err.msg, /unreachable/);
  });

  it('logs a warning naming a token file every user may read, and uses it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romana-cni-token-'));
    try {
      const token = path.join(dir, 'token');
      writeFileSync(token, 'node-token\n', { mode: 0o644 });
      chmodSync(token, 0o644);
      const logFile = path.join(dir, 'cni.log');
      const conf = { cniVersion: '1.1.0', romanad_url: 'http://127.0.0.1:1' };
      const x = io(
        { CNI_COMMAND: 'STATUS' },
        JSON.stringify({ ...conf, token_file: token, log_file: logFile }),
      );
      assert.equal(await main([], x), 1); // romanad is unreachable
      assert.match(
        readFileSync(logFile, 'utf8'),
        new RegExp(`STATUS: token_file: '${token}' has mode 0644, readable by every user`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers code 5 when the token file cannot be read', async () => {
    const x = io(addEnv, '{"cniVersion":"1.0.0","token_file":"/nonexistent/romana-token"}');
    assert.equal(await main([], x), 1);
    const err = JSON.parse(x.out.join('')) as { code: number; msg: string };
    assert.equal(err.code, 5);
    assert.match(err.msg, /token_file/);
  });
});
