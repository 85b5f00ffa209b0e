import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { groupOf, selfTimeByGroup } from '../bench/profile.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

describe('npm run profile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-profile-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('groups a frame by our module, package, Node module or V8 name', () => {
    const at = (url: string, functionName = 'f') => groupOf({ url, functionName }, '/repo');
    assert.equal(at('file:///repo/src/server/state/core.ts'), 'src/server/state/core.ts');
    assert.equal(at('file:///repo/node_modules/fastify/lib/reply.js'), 'fastify');
    assert.equal(at('file:///repo/node_modules/@grpc/grpc-js/build/src/call.js'), '@grpc/grpc-js');
    assert.equal(at('node:events'), 'node:events');
    assert.equal(at('', '(garbage collector)'), '(garbage collector)');
    assert.equal(at('', 'writev'), 'writev');
    assert.equal(at('', ''), '(native)');
    assert.equal(at('file:///elsewhere/x.js'), '/elsewhere/x.js');
  });

  it("sums self time per group, largest first, leaving out the profiler's own stop call", () => {
    const frame = (url: string, functionName = 'f') => ({ functionName, url, lineNumber: 0 });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('', '(root)'), children: [2, 4, 5] },
        { id: 2, callFrame: frame('file:///repo/src/a.ts'), children: [3] },
        { id: 3, callFrame: frame('node:events', 'emit') },
        { id: 4, callFrame: frame('', '(idle)') },
        { id: 5, callFrame: frame('file:///repo/bench/profile-preload.mjs'), children: [6] },
        { id: 6, callFrame: frame('', 'dispatch') },
      ],
      samples: [2, 3, 3, 4, 2, 6],
      timeDeltas: [10, 20, 30, 100, 5, 9999],
    };
    assert.deepEqual(selfTimeByGroup(profile, '/repo'), [
      ['(idle)', 100],
      ['node:events', 50],
      ['src/a.ts', 15],
    ]);
  });

  it('the preload profiles between two SIGUSR2, and writes the profile', async () => {
    const out = path.join(dir, 'p.cpuprofile');
    const child = spawn(
      process.execPath,
      [
        '--import',
        path.join(ROOT, 'bench/profile-preload.mjs'),
        '-e',
        // Busy between the signals, so that the profile has samples of this function.
        `process.stdout.write('ready\\n');
         let n = 0; function spin() { const end = Date.now() + 5; while (Date.now() < end) n++; }
         setInterval(spin, 1);`,
      ],
      { env: { ...process.env, ROMANA_PROFILE_OUT: out }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const lines = (stream: NodeJS.ReadableStream, want: string) =>
        new Promise<void>((resolve, reject) => {
          let text = '';
          stream.on('data', (d: Buffer) => {
            text += d.toString();
            if (text.includes(want)) resolve();
          });
          child.once('exit', (code) => reject(new Error(`exited ${code}: ${text}`)));
          setTimeout(() => reject(new Error(`no '${want}' within 10 s: ${text}`)), 10_000).unref();
        });
      await lines(child.stdout, 'ready');
      child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 300));
      const written = lines(child.stderr, 'profile written');
      child.kill('SIGUSR2');
      await written;
      const profile = JSON.parse(readFileSync(out, 'utf8')) as Parameters<
        typeof selfTimeByGroup
      >[0];
      const names = new Set(profile.nodes.map((n) => n.callFrame.functionName));
      assert.ok(names.has('spin'), [...names].join(', '));
      const total = profile.timeDeltas.reduce((a, b) => a + b, 0);
      assert.ok(total > 200_000 && total < 5_000_000, `profiled ${total} µs`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
