import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

/**
 * Slack's Socket Mode as the emulator serves it: apps.connections.open hands out a ws:// URL good for
 * one connection, the socket greets the app with `hello`, and Slack's requests go down it as envelopes
 * (slash_commands, interactive, events_api) that the app acknowledges by sending back their envelope_id.
 */

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';

export interface EnvelopeAck {
  envelopeId: string;
  /** What the app put in its acknowledgement: a command's answer, a form's errors, or nothing. */
  payload: Record<string, unknown>;
}

export class SocketModeEndpoint {
  private readonly server = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private readonly sockets: WebSocket[] = [];
  private readonly pending = new Map<string, (payload: Record<string, unknown>) => void>();
  readonly acks: EnvelopeAck[] = [];

  constructor(readonly appId: string) {}

  /** The URL apps.connections.open answers with, for the emulator served at `baseUrl`. */
  open(baseUrl: string): string {
    const ticket = randomBytes(12).toString('hex');
    this.tickets.add(ticket);
    return `${baseUrl.replace(/^http/, 'ws')}/link/?ticket=${ticket}&app_id=${this.appId}`;
  }

  /** How many sockets are open. */
  get connections(): number {
    return this.sockets.length;
  }

  /** How many sockets were ever opened, closed since or not. */
  opened = 0;

  /** The next socket opened is never greeted with `hello`: a Slack server that took the connection and hung. */
  withholdNextHello = false;

  /** The HTTP server's `upgrade` handler: a ticket from apps.connections.open gets one socket, once. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (url.pathname !== '/link/' || !this.tickets.delete(url.searchParams.get('ticket') ?? '')) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    this.server.handleUpgrade(req, socket, head, (ws) => this.connected(ws));
  }

  /**
   * Sends Slack's request down the newest socket, as Slack would; resolves with the app's
   * acknowledgement. `payload` is what Slack would otherwise POST: the command's fields, or the
   * interaction's `payload` object.
   */
  deliver(type: EnvelopeType, payload: Record<string, unknown>): Promise<Record<string, unknown>> {
    const socket = this.sockets.at(-1);
    if (!socket) return Promise.reject(new Error('no Socket Mode connection is open'));
    const envelopeId = randomBytes(16).toString('hex');
    const acked = new Promise<Record<string, unknown>>((resolve) => this.pending.set(envelopeId, resolve));
    socket.send(
      JSON.stringify({
        envelope_id: envelopeId,
        type,
        payload,
        // Slack takes an answer in the acknowledgement of commands and form submissions only.
        accepts_response_payload:
          type === 'slash_commands' || (type === 'interactive' && payload.type === 'view_submission'),
      }),
    );
    return acked;
  }

  /** Asks every app to reconnect, as Slack does before it recycles a connection's server. */
  refresh(): void {
    for (const socket of this.sockets) {
      socket.send(JSON.stringify({ type: 'disconnect', reason: 'refresh_requested' }));
    }
  }

  /** Drops every socket at once, as a Slack outage would. */
  close(): void {
    for (const socket of this.sockets) socket.terminate();
    this.server.close();
  }

  private connected(socket: WebSocket): void {
    this.opened += 1;
    this.sockets.push(socket);
    socket.on('close', () => {
      const index = this.sockets.indexOf(socket);
      if (index >= 0) this.sockets.splice(index, 1);
    });
    socket.on('error', () => socket.terminate());
    socket.on('message', (data, isBinary) => {
      if (!isBinary) this.received(data);
    });
    if (this.withholdNextHello) {
      this.withholdNextHello = false;
      return;
    }
    socket.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.sockets.length,
        debug_info: { host: 'slack-emulator' },
        connection_info: { app_id: this.appId },
      }),
    );
  }

  /** An acknowledgement: `{envelope_id, payload?}`. Anything else is ignored, as Slack ignores it. */
  private received(data: RawData): void {
    let message: { envelope_id?: unknown; payload?: unknown };
    try {
      message = JSON.parse(String(data));
    } catch {
      return;
    }
    if (typeof message?.envelope_id !== 'string') return;
    const payload =
      message.payload && typeof message.payload === 'object'
        ? (message.payload as Record<string, unknown>)
        : {};
    this.acks.push({ envelopeId: message.envelope_id, payload });
    this.pending.get(message.envelope_id)?.(payload);
    this.pending.delete(message.envelope_id);
  }
}
