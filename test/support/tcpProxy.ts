import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase } from './services.js';

export interface TcpProxy {
  /** The loopback port to connect to instead of the target's. */
  port: number;
  /** Destroys every open connection, both ways, and refuses new ones until restore(). */
  cut(): void;
  /** Stops forwarding without closing anything: the peers wait on a silent network until restore(). */
  silence(): void;
  /**
   * Stops forwarding on the connections open now, for good, while new ones are served: a network path that
   * died without a word (a NAT that forgot the flow) with the server still there. They close when a peer
   * closes them.
   */
  silenceOpen(): void;
  /** Forwards again: new connections are accepted, silenced ones carry what was held back. */
  restore(): void;
  close(): Promise<void>;
}

type Mode = 'open' | 'cut' | 'silent';

/**
 * A TCP proxy of the tests' own in front of PostgreSQL or Redis, to cut a service away from the bot
 * without touching the shared server (DESIGN.md, Testing).
 */
export async function startTcpProxy(
  targetHost: string,
  targetPort: number,
  /** A Unix socket to listen on, rather than a loopback port (`port` is then 0). */
  { socketPath }: { socketPath?: string } = {},
): Promise<TcpProxy> {
  let mode: Mode = 'open';
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: targetHost, port: targetPort });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    if (mode !== 'silent') {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) =>
    socketPath ? server.listen(socketPath, resolve) : server.listen(0, '127.0.0.1', resolve),
  );
  const port = socketPath ? 0 : (server.address() as AddressInfo).port;
  const proxy: TcpProxy = {
    port,
    cut() {
      mode = 'cut';
      // resetAndDestroy (RST) rather than a FIN: the peers see the connection die, not a polite close. A
      // Unix socket has no RST: it is closed.
      for (const pair of [...pairs])
        for (const socket of pair) {
          try {
            socket.resetAndDestroy();
          } catch {
            socket.destroy();
          }
        }
      pairs.clear();
    },
    silence() {
      mode = 'silent';
      for (const pair of pairs) pause(pair);
    },
    silenceOpen() {
      for (const pair of pairs) pause(pair);
    },
    restore() {
      const silenced = mode === 'silent';
      mode = 'open';
      if (silenced)
        for (const [client, upstream] of pairs) {
          client.pipe(upstream);
          upstream.pipe(client);
        }
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}

/** Reads nothing more from either side; what each side writes waits in the kernel's buffers. */
function pause([client, upstream]: [Socket, Socket]): void {
  client.unpipe(upstream);
  upstream.unpipe(client);
  client.pause();
  upstream.pause();
}

/** A fresh test database, reachable directly and through a proxy of its own, for tests of connections lost. */
export interface ProxiedDatabase {
  proxy: TcpProxy;
  /** A pool straight to the database, which the proxy's faults do not reach. */
  direct: pg.Pool;
  /** The database's URL through the proxy. */
  proxiedUrl: string;
  close(): Promise<void>;
}

export async function proxiedDatabase({ unixSocket = false } = {}): Promise<ProxiedDatabase> {
  const database = await createTestDatabase();
  const url = new URL(database.url);
  // PostgreSQL's clients find a server's Unix socket in a directory, named after its port.
  const directory = unixSocket ? await mkdtemp(join(tmpdir(), 'ib-pg-')) : undefined;
  const proxy = await startTcpProxy(url.hostname, Number(url.port), {
    ...(directory ? { socketPath: join(directory, `.s.PGSQL.${url.port}`) } : {}),
  });
  const direct = new pg.Pool({ connectionString: database.url });
  if (directory) url.searchParams.set('host', directory);
  else url.host = `127.0.0.1:${proxy.port}`;
  return {
    proxy,
    direct,
    proxiedUrl: url.toString(),
    close: async () => {
      await direct.end();
      await proxy.close();
      await database.drop();
      if (directory) await rm(directory, { recursive: true, force: true });
    },
  };
}
