/**
 * A loopback TCP proxy in front of PostgreSQL that can lose one statement's reply on purpose,
 * for the "the reply of a write never came" cases. Armed with a byte pattern (a run id, which
 * travels in the statement's bind parameters), it acts on the first client packet containing it:
 *
 * - `hold`: the packet is not forwarded and the client's socket is cut; the server connection
 *   stays open, and `releaseHeld()` later forwards the packet (a write arriving late);
 * - `drop-reply`: the packet is forwarded, and the client's socket is cut when the server's
 *   reply arrives (PostgreSQL flushes it with ReadyForQuery, after the commit), so the client never
 *   sees it.
 */
import net from 'node:net';

export interface LossyProxy {
  port: number;
  arm(pattern: string, mode: 'hold' | 'drop-reply'): void;
  /** Forwards a held packet to the server on its original connection. */
  releaseHeld(): void;
  close(): Promise<void>;
}

export async function startLossyProxy(target: { host: string; port: number }): Promise<LossyProxy> {
  let armed: { pattern: Buffer; mode: 'hold' | 'drop-reply' } | undefined;
  let held: { server: net.Socket; packet: Buffer } | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    let replies = true;
    let cutOnReply = false;
    client.on('data', (chunk: Buffer) => {
      if (armed !== undefined && chunk.includes(armed.pattern)) {
        const { mode } = armed;
        armed = undefined;
        if (mode === 'hold') {
          held = { server: upstream, packet: chunk };
          replies = false;
          client.destroy();
          return;
        }
        cutOnReply = true;
        upstream.write(chunk);
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutOnReply) {
        replies = false;
        client.destroy();
      }
      if (replies && !client.destroyed) client.write(chunk);
    });
    const end = () => {
      if (held?.server !== upstream) upstream.destroy();
      client.destroy();
    };
    client.on('close', end);
    client.on('error', end);
    upstream.on('close', () => client.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    arm(pattern, mode) {
      armed = { pattern: Buffer.from(pattern), mode };
    },
    releaseHeld() {
      if (held === undefined) throw new Error('nothing is held');
      const { server: upstream, packet } = held;
      held = undefined;
      upstream.write(packet);
      // Let the server answer (into the void), then hang up like a dead client would.
      setTimeout(() => upstream.end(), 500);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
