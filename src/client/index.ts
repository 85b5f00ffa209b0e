/**
 * Client of romanad's REST API, shared by the CLI, the agent and the CNI plugin.
 *
 * @example
 * import { RomanadClient, RomanadApiError } from './index.ts';
 * const client = new RomanadClient({ baseUrl: 'http://127.0.0.1:9600' });
 * const { hosts } = await client.listHosts();
 */
export { RomanadClient } from './client.ts';
export type { CallOptions, ClientOptions } from './client.ts';
export { RomanadApiError, RomanadUnreachableError } from './errors.ts';
export type { ApiErrorBody } from './errors.ts';
export { sendJson } from './http.ts';
export type { HttpAnswer, TransportOptions } from './http.ts';
export type * from './types.ts';
