/**
 * The JSON examples in docs/ are what an operator copies first: each must be accepted by the
 * code that reads that kind of document (policies, 1.x policies, CNI configuration, topology).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseNetConf } from '../../src/cni/config.ts';
import { parseTopology } from '../../src/ipam/topology.ts';
import { parsePolicyInput } from '../../src/policy/convert.ts';
import type { RomanaPolicy } from '../../src/policy/model.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The ```json blocks of a docs file, parsed. */
function jsonBlocks(file: string): unknown[] {
  const text = readFileSync(path.join(ROOT, 'docs', file), 'utf8');
  return [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as unknown);
}

describe('JSON examples in docs/', () => {
  it('docs/policy.md: the 2.x policy and the 1.x form are valid policies', () => {
    const [v2, v1] = jsonBlocks('policy.md');
    assert.deepEqual(
      parsePolicyInput(v2).map((p) => p.id),
      ['allow-web'],
    );
    const converted = parsePolicyInput(v1);
    assert.equal(converted.length, 1);
    assert.deepEqual((converted[0] as RomanaPolicy).applied_to, [
      { tenant_id: 'demo', segment_id: 'default' },
    ]);
  });

  it('docs/node.md: the CNI configuration list is read as written', () => {
    const [list] = jsonBlocks('node.md') as Array<{
      cniVersion: string;
      name: string;
      plugins: Array<Record<string, unknown>>;
    }>;
    // A runtime passes each plugin its list's cniVersion and name.
    const conf = parseNetConf(
      JSON.stringify({ cniVersion: list!.cniVersion, name: list!.name, ...list!.plugins[0] }),
    );
    assert.equal(conf.romanadUrl, 'https://romanad.example:9600');
    assert.equal(conf.hostName, 'node-1');
    assert.equal(conf.tokenFile, '/etc/romana/cni-token');
    assert.equal(conf.logFile, '/var/log/romana/cni.log');
  });

  it('docs/ipam.md: the topology example is valid', () => {
    const blocks = jsonBlocks('ipam.md');
    assert.ok(blocks.length >= 1);
    for (const doc of blocks) {
      const r = parseTopology(doc);
      assert.ok(r.ok, r.ok ? '' : r.problems.join('\n'));
    }
  });
});
