/**
 * A relay from a Unix socket to a TCP port on the test's loopback: how processes inside test
 * network namespaces (through socat) reach a romanad listening outside them. `close` ends every
 * connection at once, so a test's teardown never waits on a half-closed one.
 */
import type http from 'node:http';
import net from 'node:net';

export interface Relay {
  close(): Promise<void>;
}

/** Listens on `sock` and pipes each connection to 127.0.0.1:`port()` (asked per connection). */
export async function relayUnixToTcp(sock: string, port: () => number): Promise<Relay> {
  const open = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    open.add(s);
    s.once('close', () => open.delete(s));
  };
  const server = net.createServer((s) => {
    const up = net.connect(port(), '127.0.0.1');
    track(s);
    track(up);
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
    s.on('close', () => up.destroy());
    up.on('close', () => s.destroy());
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

/** Closes an HTTP server now, ending its open connections instead of waiting for them. */
export function closeHttpServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
