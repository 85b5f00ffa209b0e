/** The dashboard's entry: wires the API (with token prompts), the live store and the page. */
import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { Api, apiBase } from './api.ts';
import { App } from './app.tsx';
import { LiveStore } from './store.ts';
import { TokenBridge } from './token.tsx';

performance.mark('romana:start');
const tokens = new TokenBridge();
const needsToken =
  document.querySelector('meta[name="romanad-auth"]')?.getAttribute('content') === 'token';
const store = new LiveStore(new Api(apiBase(location.pathname), tokens.ask, { needsToken }));
void store.start();
render(<App store={store} tokens={tokens} />, document.getElementById('app')!);
