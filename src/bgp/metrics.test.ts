import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProtocols } from './bird.ts';
import { PublisherMetrics } from './metrics.ts';

const show = (state: string) =>
  [
    'Name       Proto      Table      State  Since         Info',
    'device1    Device     ---        up     16:07:28.419',
    `romana_peer_1_2_3_4 BGP  ---     start  16:07:28.969  ${state}`,
    `  BGP state:          ${state}`,
    '    Neighbor address: 1.2.3.4',
    '    Neighbor AS:      65100',
  ].join('\n');

describe('publisher metrics', () => {
  it("reports each BGP session's state from show protocols all", async () => {
    const m = new PublisherMetrics();
    m.setSessions(parseProtocols(show('Active')));
    let text = await m.registry.metrics();
    const labels = 'protocol="romana_peer_1_2_3_4",neighbor="1.2.3.4"';
    assert.match(text, new RegExp(`romana_bgp_session_up\\{${labels}\\} 0`));
    assert.match(text, new RegExp(`romana_bgp_session_state\\{${labels},state="Active"\\} 1`));
    assert.match(text, new RegExp(`romana_bgp_session_state\\{${labels},state="Established"\\} 0`));
    assert.doesNotMatch(text, /device1/);
    m.setSessions(parseProtocols(show('Established')));
    text = await m.registry.metrics();
    assert.match(text, new RegExp(`romana_bgp_session_up\\{${labels}\\} 1`));
    assert.match(text, new RegExp(`romana_bgp_session_state\\{${labels},state="Active"\\} 0`));
  });
});
