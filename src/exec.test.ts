import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inNetns, ProcessExec, runChecked, CommandFailedError } from './exec.ts';
import { RecordingExec } from '../test/helpers/exec.ts';

describe('ProcessExec', () => {
  const exec = new ProcessExec();

  it('feeds stdin and returns stdout, stderr and the exit status', async () => {
    const r = await exec.run('sh', ['-c', 'cat; echo oops >&2; exit 3'], 'hello');
    assert.deepEqual(r, { code: 3, stdout: 'hello', stderr: 'oops\n' });
  });

  it('reports a program that cannot start as exit status 127', async () => {
    const r = await exec.run('romana-no-such-program', []);
    assert.equal(r.code, 127);
    assert.match(r.stderr, /ENOENT/);
  });

  it('survives a program that exits without reading its stdin', async () => {
    const r = await exec.run('true', [], 'x'.repeat(1 << 20));
    assert.equal(r.code, 0);
  });
});

describe('runChecked', () => {
  it('throws CommandFailedError naming the command on a non-zero exit', async () => {
    await assert.rejects(runChecked(new ProcessExec(), 'sh', ['-c', 'exit 4']), (e: unknown) => {
      assert.ok(e instanceof CommandFailedError);
      assert.equal(e.command, 'sh -c exit 4');
      assert.equal(e.exitCode, 4);
      return true;
    });
  });
});

describe('inNetns', () => {
  it('prefixes every command with nsenter into the namespace', async () => {
    const rec = new RecordingExec();
    await inNetns(rec, 'romana-test-x').run('ipset', ['restore'], 'create a hash:net\n');
    assert.deepEqual(rec.commands, [
      {
        program: 'nsenter',
        args: ['--net=/var/run/netns/romana-test-x', 'ipset', 'restore'],
        stdin: 'create a hash:net\n',
      },
    ]);
  });

  it('takes a path to a namespace file as it is (what a CNI runtime passes)', async () => {
    const rec = new RecordingExec();
    await inNetns(rec, '/proc/1234/ns/net').run('ip', ['-batch', '-'], 'link set lo up\n');
    assert.deepEqual(rec.commands[0]?.args, ['--net=/proc/1234/ns/net', 'ip', '-batch', '-']);
  });
});
