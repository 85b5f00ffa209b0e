/**
 * romanad's API from the page: JSON over fetch, with the bearer token when there is one. When
 * romanad answers 401 the page asks for a token (once, however many requests were refused),
 * keeps it in sessionStorage (gone when the tab closes) and sends the request again.
 */

const TOKEN_KEY = 'romanad-token';

/** An error answer of romanad (docs/api.md#errors). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, details: string) {
    super(details);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Asks the person at the page for a token; resolves with what they typed. */
export type TokenPrompt = (why: string) => Promise<string>;

export class Api {
  readonly base: string;
  #prompt: TokenPrompt;
  #asking: Promise<string> | undefined;

  /**
   * @param base romanad's root as seen from the page: the path the page was served at, less
   *   its `/ui` part (romanad may sit behind a proxy under a prefix).
   * @param opts.needsToken romanad said (in the page) that it wants a token: ask before the
   *   first call rather than after a refusal.
   */
  #needsToken: boolean;

  constructor(base: string, prompt: TokenPrompt, opts: { needsToken?: boolean } = {}) {
    this.base = base;
    this.#prompt = prompt;
    this.#needsToken = opts.needsToken === true;
  }

  get token(): string | undefined {
    return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    const t = this.token;
    return t === undefined ? extra : { ...extra, authorization: `Bearer ${t}` };
  }

  /**
   * A fetch that asks for a token and tries again on 401. The response is returned whatever
   * its status otherwise; `signal` aborts it.
   */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    if (this.#needsToken && this.token === undefined) {
      await this.#askToken('romanad needs a token', undefined);
    }
    for (;;) {
      const sent = this.token;
      const res = await fetch(this.base + path, {
        ...init,
        headers: this.#headers((init.headers as Record<string, string> | undefined) ?? {}),
      });
      if (res.status !== 401) return res;
      await res.body?.cancel();
      await this.#askToken(sent === undefined ? 'romanad needs a token' : 'token refused', sent);
    }
  }

  /** One prompt for every request refused meanwhile; a token changed since is used at once. */
  async #askToken(why: string, sent: string | undefined): Promise<void> {
    if (this.token !== sent) return;
    this.#asking ??= this.#prompt(why).finally(() => (this.#asking = undefined));
    const token = await this.#asking;
    sessionStorage.setItem(TOKEN_KEY, token);
  }

  /** GET or another method with a JSON body; the parsed JSON answer, or an `ApiError`. */
  async json<T>(path: string, method = 'GET', body?: unknown): Promise<T> {
    const init: RequestInit = { method };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const res = await this.fetch(path, init);
    const text = await res.text();
    const value: unknown = text === '' ? null : JSON.parse(text);
    if (!res.ok) {
      const e = (value ?? {}) as { code?: string; details?: string };
      throw new ApiError(
        res.status,
        e.code ?? 'Unknown',
        e.details ?? `${method} ${path}: ${res.status}`,
      );
    }
    return value as T;
  }
}

/**
 * romanad's root for a page served at `pathname`.
 *
 * @example apiBase('/ui/') // ''
 * @example apiBase('/romana/ui/index.html') // '/romana'
 */
export function apiBase(pathname: string): string {
  return pathname.replace(/\/ui(\/.*)?$/, '');
}
