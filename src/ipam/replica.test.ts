import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replicaPair } from './ipam.fixtures.ts';
import { Ipam } from './ipam.ts';

const pair = (): [Ipam, Ipam] => replicaPair();

/** Copies what `from` touched into `to`, as a store watcher would. */
function sync(from: Ipam, to: Ipam): void {
  for (const c of from.takeTouchedBlocks()) to.applyBlock(c.network, c.cidr, c.state);
}

const view = (i: Ipam) => ({
  addresses: i.listAddresses().sort((x, y) => (x.name < y.name ? -1 : 1)),
  blocks: i.listAllBlocks().blocks.map(({ revision: _r, ...b }) => b),
});

describe('replicating block changes between engines', () => {
  it('reports the blocks an allocation and a release touched', () => {
    const [a] = pair();
    a.allocate({ name: 'p1', host: 'h1', tenant: 't' });
    assert.deepEqual(a.takeTouchedBlocks(), [
      {
        network: 'n',
        cidr: '10.0.0.0/29',
        state: { owner: 't:', host: 'h1', acquired: 3, released: 0, names: [[0, 'p1']] },
      },
    ]);
    assert.deepEqual(a.takeTouchedBlocks(), [], 'the list is cleared');
    a.release('p1');
    const [c] = a.takeTouchedBlocks();
    assert.equal(c!.state.owner, null);
    assert.deepEqual(c!.state.names, []);
  });

  it('makes a second engine equal to the first, block by block', () => {
    const [a, b] = pair();
    for (let i = 0; i < 20; i++)
      a.allocate({ name: `p${i}`, host: i % 2 ? 'h1' : 'h2', tenant: `t${i % 3}` });
    for (let i = 0; i < 20; i += 3) a.release(`p${i}`);
    sync(a, b);
    assert.deepEqual(view(b), view(a));
    // And both continue identically.
    b.allocate({ name: 'next', host: 'h1', tenant: 't0' });
    a.allocate({ name: 'next', host: 'h1', tenant: 't0' });
    assert.equal(b.getAddress('next').ip, a.getAddress('next').ip);
  });

  it('undoes an uncommitted allocation when the stored state is applied back', () => {
    const [, b] = pair();
    b.allocate({ name: 'lost', host: 'h1' });
    const touched = b.takeTouchedBlocks();
    assert.deepEqual(
      touched.map((c) => c.cidr),
      ['10.0.0.0/29'],
    );
    for (const c of touched) b.applyBlock(c.network, c.cidr, null); // the store never had it
    assert.deepEqual(b.listAddresses(), []);
    assert.deepEqual(
      view(b).blocks,
      [
        {
          cidr: '10.0.0.0/29',
          network: 'n',
          tenant: '',
          segment: '',
          host: '',
          allocated_ip_count: 0,
        },
      ],
      'the block stays, free, for reuse',
    );
    // The free block is reused: the next allocation gets the same address.
    assert.equal(b.allocate({ name: 'again', host: 'h1' }).ip, '10.0.0.0');
  });

  it('fills a gap with free blocks when another replica created a later block first', () => {
    const [a, b] = pair();
    a.allocate({ name: 'x', host: 'h1', tenant: 'x' });
    a.allocate({ name: 'y', host: 'h1', tenant: 'y' });
    const [, second] = a.takeTouchedBlocks();
    b.applyBlock(second!.network, second!.cidr, second!.state); // 10.0.0.8/29 only
    assert.equal(b.getAddress('y').ip, '10.0.0.8');
    assert.equal(b.allocate({ name: 'z', host: 'h2', tenant: 'z' }).ip, '10.0.128.0');
    assert.equal(
      b.allocate({ name: 'w', host: 'h1', tenant: 'w' }).ip,
      '10.0.0.0',
      'the gap block is reusable',
    );
  });

  it('applies hosts and blackouts', () => {
    const [a, b] = pair();
    a.addHost({ name: 'h3', ip: '10.9.0.3', tags: { k: 'v' } });
    b.applyHost('h3', a.hostRecord('h3'));
    assert.deepEqual(b.getHost({ name: 'h3' }), a.getHost({ name: 'h3' }));
    a.updateHostTags({ name: 'h3' }, { k: 'w' });
    b.applyHost('h3', a.hostRecord('h3'));
    assert.deepEqual(b.getHost({ name: 'h3' }).tags, { k: 'w' });
    b.applyHost('h3', null);
    assert.deepEqual(
      b.listHosts().hosts.map((h) => h.name),
      ['h1', 'h2'],
    );
    a.blackOut('10.0.5.0/24');
    b.applyBlackouts('n', a.blackoutsOf('n'));
    assert.deepEqual(b.listBlackouts(), [{ network: 'n', cidr: '10.0.5.0/24' }]);
  });
});
