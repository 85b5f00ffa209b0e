/** Types shared by the route modules. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Access, Principal } from '../auth.ts';
import type { RomanadMetrics } from '../metrics.ts';
import type { RomanaService } from '../../state/service.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (see src/server/http/auth.ts); routes without it are admin-only. */
    access?: Access;
  }
  interface FastifyRequest {
    /** Set by the auth hook when tokens are configured. */
    principal?: Principal;
  }
}

/** The app with TypeBox schemas typing request parts. */
export type TypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What every route module gets. */
export interface RouteContext {
  service: RomanaService;
  metrics: RomanadMetrics;
  /** Body size limits in bytes. */
  bodyLimit: number;
  topologyBodyLimit: number;
  /** Interval of heartbeat lines on watch streams. */
  watchHeartbeatMs: number;
  /** A watch stream whose unsent output exceeds this many bytes is cut (the client resumes). */
  watchMaxBufferBytes: number;
  /** Open watch streams, ended when the app closes. */
  watchStreams: Set<() => void>;
}
