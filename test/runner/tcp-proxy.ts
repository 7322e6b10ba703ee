/**
 * A TCP proxy on 127.0.0.1 between the runner and the S3 server, to cut the connection mid-upload
 * the way a network failure does: every open connection is reset (RST) and new ones are refused
 * for a while, then the network "comes back".
 */
import * as net from 'node:net';

export class TcpProxy {
  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  /** Bytes sent from clients to the target so far. */
  public bytesUp = 0;
  /** Connections reset or refused so far. */
  public resets = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private blackoutUntil = 0;
  private cut?: { afterBytes: number; blackoutMs: number; done: () => void };

  private constructor(private readonly targetHost: string, private readonly targetPort: number) {
    this.server = net.createServer(client => this.accept(client));
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /**
   * Once `afterBytes` more bytes went up, resets every connection and refuses new ones for
   * `blackoutMs`. Resolves when the cut happened.
   */
  cutAfter(afterBytes: number, blackoutMs: number): Promise<void> {
    return new Promise(resolve => {
      this.cut = { afterBytes: this.bytesUp + afterBytes, blackoutMs, done: resolve };
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>(resolve => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (Date.now() < this.blackoutUntil) {
      this.resets++;
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (chunk: Buffer) => {
      this.bytesUp += chunk.length;
      if (this.cut && this.bytesUp >= this.cut.afterBytes) this.cutNow();
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  private cutNow(): void {
    const cut = this.cut!;
    this.cut = undefined;
    this.blackoutUntil = Date.now() + cut.blackoutMs;
    for (const s of this.sockets) {
      this.resets++;
      if (!s.destroyed) s.resetAndDestroy();
    }
    cut.done();
  }
}
