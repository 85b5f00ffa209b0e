/**
 * The Kubernetes naming rules that pod links and namespaces follow (Kubernetes API
 * conventions: "Object names and IDs", "Labels and selectors", container ports). Each check
 * answers the problem in words (`undefined`: valid), so that an error can name field and value.
 *
 * @example dnsLabelProblem('kube-system') // undefined
 * @example dnsLabelProblem('Kube') // "must consist of lower case letters, digits and '-' …"
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A namespace name: an RFC 1123 DNS label (at most 63 characters). */
export function dnsLabelProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (s.length > 63) return `must be at most 63 characters (has ${s.length})`;
  if (!DNS_LABEL.test(s)) {
    return "must consist of lower case letters, digits and '-', and start and end with a letter or digit";
  }
  return undefined;
}

/** A pod name: an RFC 1123 DNS subdomain (dot-separated DNS labels, at most 253 characters). */
export function dnsSubdomainProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (s.length > 253) return `must be at most 253 characters (has ${s.length})`;
  if (!s.split('.').every((part) => DNS_LABEL.test(part))) {
    return "must consist of lower case letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit";
  }
  return undefined;
}

/** A label key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 characters. */
export function labelKeyProblem(s: string): string | undefined {
  const slash = s.indexOf('/');
  const name = slash < 0 ? s : s.slice(slash + 1);
  if (slash >= 0) {
    const bad = dnsSubdomainProblem(s.slice(0, slash));
    if (bad !== undefined) return `prefix ${bad}`;
  }
  if (name === '') return 'name part must not be empty';
  if (name.length > 63) return `name part must be at most 63 characters (has ${name.length})`;
  if (!LABEL_NAME.test(name)) {
    return "name part must consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit";
  }
  return undefined;
}

/** A label value: empty, or at most 63 characters of the label name alphabet. */
export function labelValueProblem(s: string): string | undefined {
  if (s === '') return undefined;
  if (s.length > 63) return `must be at most 63 characters (has ${s.length})`;
  if (!LABEL_NAME.test(s)) {
    return "must be empty or consist of letters, digits, '-', '_' and '.', and start and end with a letter or digit";
  }
  return undefined;
}

/** A container port name (IANA service name): at most 15 characters, with a letter, no '--'. */
export function portNameProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (s.length > 15) return `must be at most 15 characters (has ${s.length})`;
  if (!PORT_NAME.test(s) || s.includes('--')) {
    return "must consist of lower case letters, digits and '-' (no '--'), and start and end with a letter or digit";
  }
  if (!/[a-z]/.test(s)) return 'must contain at least one letter';
  return undefined;
}

/** A pod uid: a non-empty string of at most 64 printable ASCII characters. */
export function uidProblem(s: string): string | undefined {
  if (s === '') return 'must not be empty';
  if (s.length > 64) return `must be at most 64 characters (has ${s.length})`;
  if (!/^[\x21-\x7e]+$/.test(s)) return 'must consist of printable ASCII characters';
  return undefined;
}
