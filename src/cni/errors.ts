/**
 * CNI errors: the codes of the CNI specification (1.1.0, "Error codes") and one error type that
 * carries a code, so every failure reaches the runtime as `{cniVersion, code, msg, details}`.
 */

/** Error codes; 1–99 are the specification's, 100 and up are this plugin's, 999 is generic. */
export const CniCode = {
  /** The config's cniVersion is not one this plugin speaks. */
  IncompatibleVersion: 1,
  /** A field of the network configuration is not supported. */
  UnsupportedField: 2,
  /** The container is unknown or does not exist. */
  UnknownContainer: 3,
  /** CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME… missing or invalid. */
  InvalidEnvironment: 4,
  /** Reading stdin or a file failed. */
  IoFailure: 5,
  /** Stdin is not JSON. */
  DecodingFailure: 6,
  /** The network configuration does not validate. */
  InvalidConfig: 7,
  /** Transient: romanad unreachable or unavailable. */
  TryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADD. */
  NotAvailable: 50,
  /** romanad refused the request (unknown host, no address space, denied token…). */
  Romanad: 100,
  /** Wiring the pod's interface, addresses or routes failed. */
  Wiring: 101,
  /** CHECK found the container's networking not as ADD left it. */
  CheckFailed: 102,
  /** The Kubernetes API refused the pod lookup. */
  Kubernetes: 103,
  /** Anything else. */
  Internal: 999,
} as const;

export type CniCodeValue = (typeof CniCode)[keyof typeof CniCode];

/**
 * A failure with a CNI error code.
 *
 * @example
 * throw new CniError(CniCode.InvalidEnvironment, 'CNI_NETNS is required for ADD', 'set CNI_NETNS');
 */
export class CniError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, msg: string, details = '', options?: { cause?: unknown }) {
    super(msg, options);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }
}

/** The CNI error JSON for `err`, in `cniVersion`. Unknown errors become code 999. */
export function errorJson(
  err: unknown,
  cniVersion: string,
): {
  cniVersion: string;
  code: number;
  msg: string;
  details: string;
} {
  if (err instanceof CniError) {
    return { cniVersion, code: err.code, msg: err.message, details: err.details };
  }
  const msg = err instanceof Error ? err.message : String(err);
  return { cniVersion, code: CniCode.Internal, msg, details: '' };
}
