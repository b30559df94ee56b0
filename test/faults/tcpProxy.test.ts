import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';

/** The fault tests' proxy does what they rely on: cut, silence and restore. */
describe('the tests’ TCP proxy', () => {
  let echo: Server;
  let proxy: TcpProxy;
  beforeAll(async () => {
    // The proxy resets connections on a cut: the echo's end of them just goes.
    echo = createServer((socket) => socket.on('error', () => {}).pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    proxy = await startTcpProxy('127.0.0.1', (echo.address() as { port: number }).port);
  });
  afterAll(async () => {
    await proxy.close();
    echo.close();
  });

  const connect = async () => {
    const socket = createConnection({ host: '127.0.0.1', port: proxy.port });
    let received = '';
    socket.on('data', (chunk) => (received += chunk));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => {});
    await once(socket, 'connect');
    return { socket, received: () => received, closed };
  };
  const echoes = async (socket: Socket, received: () => string, text: string) => {
    socket.write(text);
    await waitFor(() => received().endsWith(text), 5000, `the echo of ${text}`);
  };

  it('forwards both ways', async () => {
    const { socket, received } = await connect();
    await echoes(socket, received, 'ping');
    socket.destroy();
  });

  it('cut closes open connections and refuses new ones until restore', async () => {
    const open = await connect();
    await echoes(open.socket, open.received, 'before');
    proxy.cut();
    await open.closed;
    const refused = await connect();
    await refused.closed;
    proxy.restore();
    const again = await connect();
    await echoes(again.socket, again.received, 'after');
    again.socket.destroy();
  });

  it('silence holds what is sent without closing, and restore delivers it', async () => {
    const { socket, received } = await connect();
    await echoes(socket, received, 'a');
    proxy.silence();
    socket.write('b');
    // Nothing comes back while silent; a connection made meanwhile is accepted and waits too.
    const late = await connect();
    late.socket.write('c');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received()).toBe('a');
    expect(late.received()).toBe('');
    proxy.restore();
    await waitFor(() => received() === 'ab' && late.received() === 'c', 5000, 'the held bytes');
    socket.destroy();
    late.socket.destroy();
  });
});
