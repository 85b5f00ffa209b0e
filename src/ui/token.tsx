/**
 * Asking for a token: `TokenBridge.ask` (handed to the Api as its prompt) shows the dialog and
 * resolves with what was typed. The token is kept in sessionStorage by the Api.
 */
import { useEffect, useState } from 'preact/hooks';

interface Pending {
  why: string;
  resolve(token: string): void;
}

export class TokenBridge {
  #pending: Pending | undefined;
  #listener: ((p: Pending | undefined) => void) | undefined;

  ask = (why: string): Promise<string> =>
    new Promise((resolve) => {
      this.#pending = {
        why,
        resolve: (token) => {
          this.#pending = undefined;
          this.#listener?.(undefined);
          resolve(token);
        },
      };
      this.#listener?.(this.#pending);
    });

  listen(fn: (p: Pending | undefined) => void): () => void {
    this.#listener = fn;
    fn(this.#pending);
    return () => (this.#listener = undefined);
  }
}

export function TokenDialog({ bridge }: { bridge: TokenBridge }) {
  const [pending, setPending] = useState<Pending | undefined>(undefined);
  const [value, setValue] = useState('');
  useEffect(() => bridge.listen(setPending), [bridge]);
  if (pending === undefined) return null;
  return (
    <div class="overlay">
      <form
        class="token"
        data-testid="token-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim() === '') return;
          pending.resolve(value.trim());
          setValue('');
        }}
      >
        <h2>Token needed</h2>
        <p>
          {pending.why}. Paste a bearer token (the <em>read-only</em> role is enough). It is kept
          for this tab only.
        </p>
        <input
          type="password"
          name="token"
          autocomplete="off"
          aria-label="Bearer token"
          value={value}
          onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)}
          autofocus
        />
        <button type="submit">Use token</button>
      </form>
    </div>
  );
}
