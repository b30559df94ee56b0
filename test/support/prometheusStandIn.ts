import { createServer, type IncomingHttpHeaders } from 'node:http';
import { listen } from '../health/support.js';

/** One instant query as it arrived: GET parameters or a POSTed form, as Prometheus takes either. */
export interface ReceivedQuery {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  params: Record<string, string>;
}

/** An answer: an HTTP status (200 unless given), headers, and a body, JSON unless it is a string. */
export interface PrometheusAnswer {
  status?: number;
  headers?: Record<string, string>;
  body: unknown;
}

export interface PrometheusStandIn {
  url: string;
  /** Every query, oldest first. */
  received: ReceivedQuery[];
  /** How a query is answered; an empty instant vector to begin with. */
  answer: (query: ReceivedQuery) => PrometheusAnswer;
  close(): Promise<void>;
}

const now = () => Date.now() / 1000;

// The shapes of https://prometheus.io/docs/prometheus/latest/querying/api/#expression-query-result-formats
export const vector = (...series: Array<[Record<string, string>, string]>): PrometheusAnswer => ({
  body: {
    status: 'success',
    data: {
      resultType: 'vector',
      result: series.map(([metric, value]) => ({ metric, value: [now(), value] })),
    },
  },
});

export const scalar = (value: string): PrometheusAnswer => ({
  body: { status: 'success', data: { resultType: 'scalar', result: [now(), value] } },
});

export const matrix = (metric: Record<string, string>, ...values: string[]): PrometheusAnswer => ({
  body: {
    status: 'success',
    data: { resultType: 'matrix', result: [{ metric, values: values.map((v, i) => [now() - i * 15, v]) }] },
  },
});

export const prometheusError = (status: number, errorType: string, error: string): PrometheusAnswer => ({
  status,
  body: { status: 'error', errorType, error },
});

/** A stand-in for Prometheus's HTTP API: `/api/v1/query` on real HTTP at 127.0.0.1, recording each query. */
export async function startPrometheusStandIn(): Promise<PrometheusStandIn> {
  const standIn: Omit<PrometheusStandIn, 'url' | 'close'> = { received: [], answer: () => vector() };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      if (url.pathname !== '/api/v1/query') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return res.end('404 page not found\n');
      }
      const form = req.method === 'POST' ? Buffer.concat(chunks).toString('utf8') : url.search.slice(1);
      const received = {
        method: req.method ?? '',
        path: url.pathname,
        headers: req.headers,
        params: Object.fromEntries(new URLSearchParams(form)),
      };
      standIn.received.push(received);
      const { status = 200, headers, body } = standIn.answer(received);
      const text = typeof body === 'string';
      res.writeHead(status, { 'content-type': text ? 'text/html' : 'application/json', ...headers });
      res.end(text ? body : JSON.stringify(body));
    });
  });
  const { port, close } = await listen(server);
  return Object.assign(standIn, { url: `http://127.0.0.1:${port}`, close });
}
