import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { runProgram, startWhenReachable } from './program.ts';

function program(action: () => Promise<void>): Command {
  return new Command('romana-test')
    .version('romana-test 1', '--version')
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .action(action);
}

describe('runProgram', () => {
  it("answers the action's status, 0 for --version, 2 for bad usage", async () => {
    assert.equal(
      await runProgram(
        program(async () => undefined),
        [],
        () => 7,
      ),
      7,
    );
    assert.equal(
      await runProgram(
        program(async () => undefined),
        ['--version'],
        () => 7,
      ),
      0,
    );
    assert.equal(
      await runProgram(
        program(async () => undefined),
        ['--nope'],
        () => 7,
      ),
      2,
    );
  });

  it('answers 1 for an error and prints it under the program name', async () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (written.push(s), true)) as typeof process.stderr.write;
    try {
      const failing = program(async () => Promise.reject(new Error('no romanad')));
      assert.equal(await runProgram(failing, [], () => 0), 1);
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(written, ['romana-test: no romanad\n']);
  });
});

describe('startWhenReachable', () => {
  it('tries again until start succeeds, reporting each failure', async () => {
    const failures: number[] = [];
    let calls = 0;
    await startWhenReachable(
      async () => {
        if (++calls < 3) throw new Error(`down ${calls}`);
      },
      (attempt) => failures.push(attempt),
    );
    assert.equal(calls, 3);
    assert.deepEqual(failures, [1, 2]);
  });
});
