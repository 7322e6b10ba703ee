/**
 * A real HTTP server on 127.0.0.1 (random port) that records every request and answers as told:
 * 200, 500 (or any status), or never. Plus the URL of a closed port, for a receiver that is down.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';

/** How the recorder answers a request: 'ok' (200), 'error' (500), 'hang' (never), or a status code. */
export type RecorderMode = 'ok' | 'error' | 'hang' | number;

export interface RecordedRequest {
  readonly method: string;
  /** Path and query, as received. */
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** When the request's body had arrived (Date.now()). */
  readonly at: number;
}

export interface HttpRecorder {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** Every request so far, in order of arrival. */
  readonly requests: RecordedRequest[];
  /** The answer for the next requests (one mode, or one per request with the last repeated). */
  setMode(mode: RecorderMode | readonly RecorderMode[]): void;
  /** Resolves once at least `count` requests have arrived; rejects after `timeoutMs`. */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Stops the server, dropping any request left hanging. */
  close(): Promise<void>;
}

export async function startRecorder(mode: RecorderMode | readonly RecorderMode[] = 'ok'): Promise<HttpRecorder> {
  let modes: readonly RecorderMode[] = Array.isArray(mode) ? mode : [mode as RecorderMode];
  const requests: RecordedRequest[] = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const index = requests.length;
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      for (const w of [...waiters]) w();
      const m = modes[Math.min(index, modes.length - 1)];
      if (m === 'hang') return; // keep the connection open and never answer
      const status = m === 'ok' ? 200 : m === 'error' ? 500 : m;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'OK' : `status ${status}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    setMode(m) {
      modes = Array.isArray(m) ? m : [m as RecorderMode];
    },
    waitForRequests(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length < count) return false;
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(check), 1);
          resolve([...requests]);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`expected ${count} requests within ${timeoutMs} ms, got ${requests.length}`));
        }, timeoutMs);
        waiters.push(check);
        check();
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise(resolve => server.close(() => resolve()));
    },
  };
}

/** `http://127.0.0.1:<port>` of a port nothing listens on (bound, then closed, by this process). */
export async function closedPortBase(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>(resolve => srv.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
