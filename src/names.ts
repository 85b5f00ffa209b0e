/**
 * The one rule for names in Romana: hosts, addresses (pods), tenants, segments, networks,
 * topology groups, VIPs, policy ids. Modelled on Kubernetes object names, so that every
 * Kubernetes name fits and nothing that could forge a table row, break a storage key or pass
 * for an IP address does:
 *
 * - 1 to 253 characters (address names: up to 512, as they join pod, namespace and container);
 * - only ASCII letters, digits, `.`, `_` and `-` (tenants: no `.`, as namespaces have none);
 * - beginning and ending with a letter or digit;
 * - not four dot-separated numbers, so that a name never reads as an IPv4 address.
 *
 * Free text (a policy description) and labels (host tags, group assignments) have their own,
 * looser rules below: no control characters, no lone UTF-16 surrogates, bounded length.
 * The route schemas (src/server/http/routes/schemas.ts), the topology and policy validators all
 * call these functions; docs/api.md ("Names and limits") documents them.
 */
import { invalidInput } from './errors.ts';
import { specialUse, type Addr } from './net/addr.ts';

/** What a name is for; decides its length and whether dots are allowed. */
export type NameKind = 'name' | 'address' | 'tenant';

/** Longest name of each kind. */
export const NAME_MAX: Record<NameKind, number> = { name: 253, address: 512, tenant: 63 };
/** Longest label key or value (host tags, group assignments). */
export const LABEL_MAX = 253;
/** Longest free text (a policy description). */
export const TEXT_MAX = 1024;

const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/;
const TENANT_RE = /^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$/;
const LOOKS_LIKE_IP = /^[0-9]+(?:\.[0-9]+){3}$/;

/** How the rule reads in messages, per kind. */
export const NAME_RULE: Record<NameKind, string> = {
  name: `1-${NAME_MAX.name} letters, digits, '.', '_' or '-', beginning and ending with a letter or digit, not an IP address`,
  address: `1-${NAME_MAX.address} letters, digits, '.', '_' or '-', beginning and ending with a letter or digit, not an IP address`,
  tenant: `1-${NAME_MAX.tenant} letters, digits, '_' or '-', beginning and ending with a letter or digit`,
};

/** A value as messages show it: JSON, so that control characters and surrogates are visible. */
export function showValue(v: unknown): string {
  // JSON has no infinity: a number too large for a double (1e400) reads as Infinity.
  const text =
    v === undefined
      ? 'nothing'
      : typeof v === 'number' && !Number.isFinite(v)
        ? String(v)
        : JSON.stringify(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Why `value` is not a valid name of `kind`, or `undefined` when it is.
 *
 * @example nameProblem('10.112.0.3') // 'must be 1-253 letters, … not an IP address, got "10.112.0.3"'
 * @example nameProblem('web-1.default.abcdef01', 'address') // undefined
 */
export function nameProblem(value: unknown, kind: NameKind = 'name'): string | undefined {
  if (typeof value !== 'string') return `must be a string, got ${showValue(value)}`;
  if (value === '') return 'required, must not be empty';
  if (value.length > NAME_MAX[kind]) {
    return `must be at most ${NAME_MAX[kind]} characters, got ${value.length}`;
  }
  const re = kind === 'tenant' ? TENANT_RE : NAME_RE;
  if (!re.test(value) || LOOKS_LIKE_IP.test(value)) {
    return `must be ${NAME_RULE[kind]}, got ${showValue(value)}`;
  }
  return undefined;
}

/** True when `value` is a valid name of `kind`. */
export function isName(value: unknown, kind: NameKind = 'name'): value is string {
  return nameProblem(value, kind) === undefined;
}

/**
 * Throws a 400 `InvalidInput` naming `field` unless `value` is a valid name.
 *
 * @example checkName('body.host', 'node-1') // 'node-1'
 */
export function checkName(field: string, value: unknown, kind: NameKind = 'name'): string {
  const problem = nameProblem(value, kind);
  if (problem !== undefined) throw invalidInput(`${field}: ${problem}`);
  return value as string;
}

/**
 * Why `value` is not acceptable text (control characters, lone surrogates, too long), or
 * `undefined`. Lookups of existing objects use this looser rule, so that an object stored
 * before the name rule existed can still be read and removed.
 *
 * @example textProblem('a\nb') // 'must not hold control characters or lone UTF-16 surrogates, got "a\\nb"'
 */
export function textProblem(value: unknown, max = TEXT_MAX): string | undefined {
  if (typeof value !== 'string') return `must be a string, got ${showValue(value)}`;
  if (value.length > max) return `must be at most ${max} characters, got ${value.length}`;
  if (hasBadChar(value)) {
    return `must not hold control characters or lone UTF-16 surrogates, got ${showValue(value)}`;
  }
  return undefined;
}

/** A C0 or C1 control character, DEL, or a surrogate half without its partner. */
function hasBadChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
    if (c >= 0xdc00 && c <= 0xdfff) return true; // a low half not consumed by a high one
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    }
  }
  return false;
}

/** True when `value` is acceptable text of at most `max` characters. */
export function isText(value: unknown, max = TEXT_MAX): value is string {
  return textProblem(value, max) === undefined;
}

/**
 * Why `ip` cannot be a host's address, or `undefined`: the unspecified address (0.0.0.0/8),
 * loopback (127/8), multicast (224/4), reserved and broadcast (240/4, 255.255.255.255) are
 * never a node's address.
 *
 * @example hostIpProblem(Addr.parse('0.0.0.0')) // "'0.0.0.0' is unspecified (0.0.0.0/8), not a host's address"
 */
export function hostIpProblem(ip: Addr): string | undefined {
  const s = specialUse(ip);
  return s === undefined
    ? undefined
    : `'${ip.toString()}' is ${s.kind} (${s.cidr}), not a host's address`;
}
