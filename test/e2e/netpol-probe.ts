/**
 * Probing the upstream network-policy model's pods: a prober process per pod that tries a batch
 * of TCP connections and UDP datagrams at once, and the server every pod runs (TCP and UDP on
 * each port, answering `pong`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { netnsPath } from '../helpers/netns.ts';

/** One probe: from pod to pod on port/protocol. */
export interface Probe {
  from: string;
  to: string;
  port: number;
  protocol: string;
}

/**
 * A prober living in a pod: reads one JSON list of targets per line, tries them all at once
 * (TCP connect and read, or a UDP datagram and its answer) until `timeout` seconds, and prints
 * one JSON list of booleans per line.
 */
const PROBER = `
import json, select, socket, sys, time
for line in sys.stdin:
    req = json.loads(line); timeout = req['timeout']; targets = req['targets']
    ok = [False] * len(targets); socks = {}
    for i, t in enumerate(targets):
        if t['p'] == 'TCP':
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.setblocking(False)
            try: s.connect((t['ip'], t['port']))
            except BlockingIOError: pass
            except OSError: s.close(); continue
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
            try: s.sendto(b'ping', (t['ip'], t['port']))
            except OSError: s.close(); continue
        socks[s] = i
    end = time.time() + timeout
    while socks and time.time() < end:
        r, _, _ = select.select(list(socks), [], [], max(0, end - time.time()))
        for s in r:
            i = socks.pop(s)
            try: ok[i] = b'pong' in s.recv(64)
            except OSError: pass
            s.close()
    for s in socks: s.close()
    sys.stdout.write(json.dumps(ok) + '\\n'); sys.stdout.flush()
`;

/**
 * The pod's server: TCP and UDP on every port given, answering `pong` to each connection or
 * datagram, all from one small process (one per pod; socat's forking UDP listener loses
 * datagrams that arrive together).
 */
export const SERVER = `
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(('0.0.0.0', port)); t.listen(256); t.setblocking(False)
    sel.register(t, selectors.EVENT_READ, 'tcp')
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(('0.0.0.0', port)); u.setblocking(False)
    sel.register(u, selectors.EVENT_READ, 'udp')
while True:
    for key, _ in sel.select():
        s = key.fileobj
        try:
            if key.data == 'tcp':
                c, _ = s.accept(); c.setblocking(True); c.settimeout(1)
                c.sendall(b'pong\\n'); c.close()
            else:
                _, peer = s.recvfrom(2048); s.sendto(b'pong\\n', peer)
        except OSError:
            pass
`;

/** A prober process in one pod, asked one batch at a time. */
export class Prober {
  readonly #child: ChildProcess;
  #buffer = '';
  #waiting: ((line: string) => void)[] = [];

  constructor(netns: string) {
    this.#child = spawn('nsenter', [`--net=${netnsPath(netns)}`, 'python3', '-u', '-c', PROBER], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    this.#child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.#buffer += d;
      for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
        const line = this.#buffer.slice(0, nl);
        this.#buffer = this.#buffer.slice(nl + 1);
        this.#waiting.shift()?.(line);
      }
    });
  }

  ask(targets: unknown[], timeout: number): Promise<boolean[]> {
    return new Promise((resolve) => {
      this.#waiting.push((line) => resolve(JSON.parse(line) as boolean[]));
      this.#child.stdin!.write(`${JSON.stringify({ targets, timeout })}\n`);
    });
  }

  close(): void {
    this.#child.kill('SIGKILL');
  }
}
