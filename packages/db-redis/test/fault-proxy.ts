/**
 * A TCP proxy on a free loopback port in front of a Redis server, for connection faults: when a
 * client request containing a marker (a run id) passes, the proxy either drops that request or
 * forwards it and drops its reply, and then resets the client's connection — a reply lost after
 * the write landed, or a request lost before it reached the server.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyFault = { marker: string; lose: 'request' | 'reply' };

export class FaultProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #fault: ProxyFault | undefined;
  port = 0;
  /** How many client connections a fault has reset. */
  resets = 0;

  private constructor(upstreamPort: number) {
    this.#server = createServer((client) => {
      const upstream = connect(upstreamPort, '127.0.0.1');
      this.#sockets.add(client);
      this.#sockets.add(upstream);
      let dropReplies = false;
      const reset = () => {
        this.resets++;
        client.resetAndDestroy();
        upstream.destroy();
      };
      client.on('data', (chunk: Buffer) => {
        const fault = this.#fault;
        if (fault !== undefined && chunk.includes(fault.marker)) {
          this.#fault = undefined;
          if (fault.lose === 'request') {
            reset();
            return;
          }
          dropReplies = true;
          upstream.write(chunk);
          // The server runs the command; its reply never reaches the client.
          setTimeout(reset, 100);
          return;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!dropReplies) client.write(chunk);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => {
        upstream.destroy();
        this.#sockets.delete(client);
      });
      upstream.on('close', () => {
        client.destroy();
        this.#sockets.delete(upstream);
      });
    });
  }

  static async start(upstreamPort: number): Promise<FaultProxy> {
    const proxy = new FaultProxy(upstreamPort);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', () => resolve()));
    const address = proxy.#server.address();
    proxy.port = typeof address === 'object' && address !== null ? address.port : 0;
    return proxy;
  }

  /** Arms one fault: the next request containing `marker`. */
  arm(fault: ProxyFault): void {
    this.#fault = fault;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
