/** Client token files: a world-readable one is used, with a warning naming it and its mode. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readTokenFile } from './token-file.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romana-token-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function tokenFile(mode: number): string {
  const file = path.join(dir, `token-${mode.toString(8)}`);
  writeFileSync(file, ' s3cret\n');
  chmodSync(file, mode);
  return file;
}

describe('readTokenFile', () => {
  for (const mode of [0o644, 0o604, 0o666]) {
    it(`warns about mode 0${mode.toString(8)}, naming the flag and the file, and reads the token`, () => {
      const file = tokenFile(mode);
      const heard: string[] = [];
      assert.equal(
        readTokenFile(file, '--token-file', (m) => heard.push(m)),
        's3cret',
      );
      assert.deepEqual(heard, [
        `--token-file: '${file}' has mode 0${mode.toString(8)}, readable by every user of this host: run 'chmod 600 ${file}'`,
      ]);
    });
  }

  for (const mode of [0o600, 0o400, 0o640, 0o440]) {
    it(`is silent about mode 0${mode.toString(8)} (owner and group only)`, () => {
      const heard: string[] = [];
      assert.equal(
        readTokenFile(tokenFile(mode), 'token_file', (m) => heard.push(m)),
        's3cret',
      );
      assert.deepEqual(heard, []);
    });
  }

  it('throws for a file that is not there', () => {
    assert.throws(() => readTokenFile(path.join(dir, 'none'), '--token-file', () => {}), /ENOENT/);
  });
});

describe('romana-agent with a token file every user may read', () => {
  it('says so on stderr, naming the flag, the file and the mode', () => {
    const file = tokenFile(0o644);
    const agent = path.resolve(import.meta.dirname, '../../bin/romana-agent.js');
    const r = spawnSync(
      process.execPath,
      [
        agent,
        'plan',
        '--token-file',
        file,
        '--romanad-url',
        'http://127.0.0.1:1',
        '--hostname',
        'h',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stderr); // romanad is unreachable
    assert.match(
      r.stderr,
      new RegExp(
        `^romana-agent: --token-file: '${file}' has mode 0644, readable by every user`,
        'm',
      ),
    );
  });
});
