/**
 * A TCP proxy on 127.0.0.1 between the runner and the S3 server, to cut the connection mid-upload
 * the way a network failure does: every open connection is reset (RST) and new ones are refused
 * for a while, then the network "comes back". Or to freeze it the way a server stopped with
 * SIGSTOP is frozen: connections stay open and new ones are accepted, but no byte moves.
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
  /** Bytes sent from the target to clients so far. */
  public bytesDown = 0;
  /** Connections reset or refused so far. */
  public resets = 0;
  private frozen = false;
  /** Connections accepted while frozen, forwarded once thawed. */
  private held: net.Socket[] = [];
  private freezeAt?: { up?: number; down?: number; done: () => void };
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

  /** Stops every byte in both directions, on open connections and on ones accepted from now on. */
  freeze(): void {
    this.frozen = true;
    for (const s of this.sockets) s.pause();
  }

  /** Freezes once `up` more bytes went up or `down` more came down. Resolves when it froze. */
  freezeAfter(bytes: { up?: number; down?: number }): Promise<void> {
    return new Promise(resolve => {
      this.freezeAt = {
        up: bytes.up === undefined ? undefined : this.bytesUp + bytes.up,
        down: bytes.down === undefined ? undefined : this.bytesDown + bytes.down,
        done: resolve,
      };
    });
  }

  thaw(): void {
    this.frozen = false;
    for (const s of this.sockets) s.resume();
    const held = this.held;
    this.held = [];
    for (const client of held) if (!client.destroyed) this.forward(client);
  }

  async close(): Promise<void> {
    for (const s of this.held) s.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>(resolve => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (Date.now() < this.blackoutUntil) {
      this.resets++;
      client.resetAndDestroy();
      return;
    }
    if (this.frozen) {
      client.pause();
      client.on('error', () => undefined);
      this.held.push(client);
      return;
    }
    this.forward(client);
  }

  private forward(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, this.targetHost);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    }
    // By hand rather than pipe(): pipe() resumes a source on 'drain', which would undo a freeze.
    const relay = (from: net.Socket, to: net.Socket, count: (n: number) => void) => {
      from.on('data', (chunk: Buffer) => {
        to.write(chunk);
        count(chunk.length);
        if (to.writableNeedDrain || this.frozen) from.pause();
      });
      to.on('drain', () => {
        if (!this.frozen) from.resume();
      });
      from.on('end', () => to.end());
    };
    relay(client, upstream, n => {
      this.bytesUp += n;
      if (this.cut && this.bytesUp >= this.cut.afterBytes) this.cutNow();
      if (this.freezeAt?.up !== undefined && this.bytesUp >= this.freezeAt.up) this.freezeNow();
    });
    relay(upstream, client, n => {
      this.bytesDown += n;
      if (this.freezeAt?.down !== undefined && this.bytesDown >= this.freezeAt.down) this.freezeNow();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    if (this.frozen) client.pause();
  }

  private freezeNow(): void {
    const at = this.freezeAt!;
    this.freezeAt = undefined;
    this.freeze();
    at.done();
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
