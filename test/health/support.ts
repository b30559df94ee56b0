import http from 'node:http';
import net from 'node:net';
import { type HealthCheck, HealthCheckSchema } from '../../src/health/checkSchema.js';

/** A check as the YAML config would give it, defaults filled in by the real schema. */
export function check(input: Record<string, unknown>): HealthCheck {
  return HealthCheckSchema.parse(input);
}

export interface Listening {
  port: number;
  /** Sockets currently open to the server: 0 once every check has closed its connection. */
  connections(): Promise<number>;
  close(): Promise<void>;
}

export async function listen(server: net.Server): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () =>
      new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    close: () =>
      new Promise((resolve) => {
        if (server instanceof http.Server) server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A TCP server that accepts connections and never says a word: every protocol above it hangs. */
export async function silentServer(): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Reads and drops what it is sent, so that it sees the client hang up.
    socket.resume();
  });
  const listening = await listen(server);
  return {
    ...listening,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await listening.close();
    },
  };
}

/** A port nothing listens on: bound by the OS, then released. */
export async function closedPort(): Promise<number> {
  const listening = await listen(net.createServer());
  await listening.close();
  return listening.port;
}
