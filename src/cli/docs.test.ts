/**
 * docs/cli.md cannot drift from the program: the commands of its session transcript are run,
 * through a shell with `romana` on the PATH, against a fresh romanad, and their output (stdout
 * and stderr, interleaved) is compared with the lines the page shows.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { startRomanad } from '../../test/helpers/romanad.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

it('docs/cli.md shows what romana prints: its transcript replayed against a fresh romanad', async () => {
  const d = await startRomanad([
    '--store',
    'memory:',
    '--initial-topology-file',
    'examples/topology.json',
  ]);
  const home = mkdtempSync(path.join(tmpdir(), 'romana-docs-'));
  const bin = path.join(ROOT, 'bin/romana.js');
  writeFileSync(path.join(home, 'romana'), `#!/bin/sh\nexec "${process.execPath}" "${bin}" "$@"\n`);
  chmodSync(path.join(home, 'romana'), 0o755);
  const env = { PATH: `${home}:${process.env['PATH']}`, HOME: home, ROMANA_ROOT_URL: d.url };
  try {
    for (const step of transcript(readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8'))) {
      assert.equal((await shell(step.command, env)).trimEnd(), step.output, `$ ${step.command}`);
    }
  } finally {
    await d.stop();
    rmSync(home, { recursive: true, force: true });
  }
});

/** The `$ command` lines of the console blocks, each with the output lines that follow it. */
function transcript(markdown: string): Array<{ command: string; output: string }> {
  const steps: Array<{ command: string; output: string[] }> = [];
  for (const block of markdown.matchAll(/```console\n([^]*?)```/g)) {
    for (const line of block[1]!.split('\n')) {
      if (line.startsWith('$ ')) steps.push({ command: line.slice(2), output: [] });
      else steps.at(-1)?.output.push(line);
    }
  }
  assert.ok(steps.length >= 5, 'docs/cli.md has a transcript');
  return steps.map((s) => ({ command: s.command, output: s.output.join('\n').trimEnd() }));
}

/** Runs a shell command line in the repository's root; stdout and stderr interleaved. */
function shell(command: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('/bin/sh', ['-c', `{ ${command}\n} 2>&1`], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('error', reject);
    proc.on('close', () => resolve(out));
  });
}
