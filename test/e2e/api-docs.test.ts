/**
 * docs/api.md promises that its curl examples work as written against `romanad --store memory:
 * --initial-topology-file examples/topology.json`: each one is run here, in order, against such
 * a romanad (only the port differs), and must get a 2xx answer (`curl -f`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRomanad, type Romanad } from '../helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The commands of the first `sh` block after "Examples, as written against", one per entry. */
function examples(): string[] {
  const doc = readFileSync(path.join(ROOT, 'docs/api.md'), 'utf8');
  const from = doc.indexOf('Examples, as written against');
  assert.ok(from > 0, 'docs/api.md has its examples section');
  const block = /```sh\n([\s\S]*?)```/.exec(doc.slice(from));
  assert.ok(block, 'the examples section holds an sh block');
  return block[1]!
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

describe('the curl examples of docs/api.md', () => {
  let d: Romanad;
  const dir = mkdtempSync(path.join(tmpdir(), 'romana-api-docs-'));
  before(async () => {
    d = await startRomanad([
      '--store',
      'memory:',
      '--initial-topology-file',
      path.join(ROOT, 'examples/topology.json'),
    ]);
  });
  after(async () => {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('each gets a 2xx answer, in order, against the documented romanad', () => {
    const commands = examples();
    assert.ok(commands.length >= 10, `found ${commands.length} examples`);
    for (const command of commands) {
      const line = command.replaceAll('http://127.0.0.1:9600', d.url);
      const r = spawnSync('sh', ['-c', `curl() { command curl -f "$@"; }; ${line}`], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(r.status, 0, `${command}\n${r.stdout}${r.stderr}`);
    }
    // The last two round-trip the topology through a file.
    assert.ok(readFileSync(path.join(dir, 'topology.json'), 'utf8').includes('"networks"'));
  });
});
