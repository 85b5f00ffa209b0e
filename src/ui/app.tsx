/** The page: totals, search, the topology tree, policies, VIPs and the advisor. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { Advisor } from './advisor.tsx';
import { PolicyTable, VipTable } from './lists.tsx';
import { FoundPanel, search, SearchBox, type Found } from './search.tsx';
import type { LiveStore } from './store.ts';
import { TokenDialog, type TokenBridge } from './token.tsx';
import { defaultOpen, NetworkCard, UsageBar } from './tree.tsx';

type Tab = 'topology' | 'policies' | 'vips' | 'advisor';

/** Re-renders on every change of the store (at most once per task). */
function useStore(store: LiveStore): number {
  const [, setVersion] = useState(0);
  useEffect(() => store.subscribe(() => setVersion((v) => v + 1)), [store]);
  return store.version;
}

function StatusLine({ store }: { store: LiveStore }) {
  const s = store.status;
  return (
    <span class={`status ${s.kind}`} data-status={s.kind} title={s.detail ?? ''}>
      {s.kind === 'live' ? '● live' : s.kind}
      {s.detail && s.kind !== 'live' ? `: ${s.detail}` : ''}
    </span>
  );
}

/** `1 host`, `2 hosts`. */
const plural = (n: number, word: string) => (n === 1 ? word : `${word}s`);

function Totals({ store }: { store: LiveStore }) {
  const t = store.view.totals;
  return (
    <div class="totals" data-testid="totals">
      <span>
        <b data-total="networks">{t.networks}</b> {plural(t.networks, 'network')}
      </span>
      <span>
        <b data-total="groups">{t.groups}</b> {plural(t.groups, 'group')}
      </span>
      <span>
        <b data-total="hosts">{t.hosts}</b> {plural(t.hosts, 'host')}
      </span>
      <span>
        <b data-total="blocks">{t.blocks}</b> {plural(t.blocks, 'block')}
      </span>
      <span>
        <b data-total="allocated">{t.allocated}</b> pods
      </span>
      <UsageBar u={t} />
    </div>
  );
}

type Focus = { network: string; host: string } | undefined;

/** The topology tab: each network's tree; `open`: groups opened or closed by hand. */
function TopologyTab({
  store,
  focus,
  unfocus,
  open,
  setOpen,
}: {
  store: LiveStore;
  focus: Focus;
  unfocus(): void;
  open: Map<string, boolean>;
  setOpen(m: Map<string, boolean>): void;
}) {
  const view = store.view;
  const openAtFirst = useMemo(() => defaultOpen(view.networks.map((n) => n.root)), [view]);
  if (view.networks.length === 0) {
    return <p class="empty">{store.status.kind === 'loading' ? 'Loading…' : 'No topology yet.'}</p>;
  }
  const toggle = (key: string, now: boolean) => {
    unfocus();
    setOpen(new Map(open).set(key, now));
  };
  return (
    <>
      {view.networks.map((n) => (
        <NetworkCard key={n.name} n={n} p={{ open, openAtFirst, focus, toggle }} />
      ))}
    </>
  );
}

/** Runs searches; a pod or IP found on a host focuses that host in the tree. */
function useSearch(store: LiveStore, onHost: (f: NonNullable<Focus>) => void) {
  const [found, setFound] = useState<Found | { kind: 'error'; message: string } | undefined>();
  const run = (q: string) => {
    setFound(undefined);
    search(store, q).then(
      (f) => {
        setFound(f);
        const block = f.kind === 'pod' || f.kind === 'ip' ? f.block : undefined;
        if (block !== undefined && block.host !== '')
          onHost({ network: block.network, host: block.host });
      },
      (err: unknown) =>
        setFound({ kind: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  };
  return { found, run };
}

export function App({ store, tokens }: { store: LiveStore; tokens: TokenBridge }) {
  const version = useStore(store);
  const [tab, setTab] = useState<Tab>('topology');
  const [focus, setFocus] = useState<Focus>();
  const [open, setOpen] = useState(() => new Map<string, boolean>());
  const { found, run } = useSearch(store, (f) => {
    setFocus(f);
    setTab('topology');
  });

  useEffect(() => {
    if (version > 0 && performance.getEntriesByName('romana:rendered').length === 0) {
      performance.mark('romana:rendered');
    }
  }, [version]);

  const tabs: Array<[Tab, string]> = [
    ['topology', 'Topology'],
    ['policies', `Policies (${store.state.policies.size})`],
    ['vips', `VIPs (${store.state.vips.size})`],
    ['advisor', 'Advisor'],
  ];
  return (
    <>
      <header>
        <h1>Romana</h1>
        <StatusLine store={store} />
        <SearchBox onSearch={run} />
      </header>
      <Totals store={store} />
      {found !== undefined &&
        (found.kind === 'error' ? (
          <div class="found error" data-testid="search-result">
            {found.message}
          </div>
        ) : (
          <FoundPanel f={found} view={store.view} onPick={run} />
        ))}
      <nav>
        {tabs.map(([t, label]) => (
          <button
            key={t}
            class={t === tab ? 'tab on' : 'tab'}
            data-tab={t}
            onClick={() => setTab(t)}
          >
            {label}
          </button>
        ))}
      </nav>
      <main>
        {tab === 'topology' && (
          <TopologyTab
            store={store}
            focus={focus}
            unfocus={() => setFocus(undefined)}
            open={open}
            setOpen={setOpen}
          />
        )}
        {tab === 'policies' && <PolicyTable policies={[...store.state.policies.values()]} />}
        {tab === 'vips' && <VipTable vips={[...store.state.vips.values()]} />}
        {tab === 'advisor' && <Advisor store={store} />}
      </main>
      <TokenDialog bridge={tokens} />
    </>
  );
}
