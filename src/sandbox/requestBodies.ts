import type { IncomingMessage } from 'node:http';

/** Request bodies read the way Slack's endpoints read them: Web API arguments, and uploaded files. */

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// The arguments Slack documents as JSON-encoded; any other (a text such as `[P1] Checkout`) is a string.
const JSON_ARGUMENTS = new Set(['blocks', 'attachments', 'metadata', 'view', 'files']);

export async function readParams(req: IncomingMessage): Promise<Record<string, unknown>> {
  const body = (await readBody(req)).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) return body ? JSON.parse(body) : {};
  const params: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    // The Web API client sends structured arguments (blocks, attachments) as JSON strings.
    params[key] = JSON_ARGUMENTS.has(key) && /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return params;
}

/** A file's bytes, sent raw or as the one file in a multipart form; Slack's upload URLs take both. */
export async function readUpload(req: IncomingMessage): Promise<Buffer> {
  const body = await readBody(req);
  const type = req.headers['content-type'] ?? '';
  if (!type.startsWith('multipart/form-data')) return body;
  // Whatever the part is called: @slack/web-api names it `body`, curl examples `file`.
  const form = await new Response(body, { headers: { 'content-type': type } }).formData();
  for (const [, value] of form) {
    if (typeof value !== 'string') return Buffer.from(await value.arrayBuffer());
  }
  throw new Error('no file in the form');
}
