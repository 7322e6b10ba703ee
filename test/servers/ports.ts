import * as net from 'node:net';

/**
 * A TCP port on 127.0.0.1 that was free a moment ago.
 *
 * The kernel picks it (bind to port 0), so it comes from the ephemeral range
 * and is random. Another process can still take it between this call and the
 * daemon's bind; the server starters retry with a new port when the daemon
 * fails with "address in use" (see `isAddressInUse`).
 */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected server address: ${String(address)}`));
        return;
      }
      const port = address.port;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Whether a daemon's log says its listen socket's port was taken. */
export function isAddressInUse(text: string): boolean {
  return /address already in use|EADDRINUSE|\(98\)/i.test(text);
}
