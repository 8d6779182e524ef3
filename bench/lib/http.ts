import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';

/** Minimal HTTP client for the benchmarks: a real request over loopback, the body streamed from a file. */

export type HttpResult = { status: number; body: string; ms: number };

export type HttpRequest = {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** JSON body, a Buffer, or `{ file }` streamed from disk with its Content-Length */
  body?: unknown;
};

export function request({ method, url, headers = {}, body }: HttpRequest): Promise<HttpResult> {
  let payload: Buffer | { file: string } | undefined;
  const h: Record<string, string | number> = { ...headers };
  if (Buffer.isBuffer(body)) payload = body;
  else if (typeof body === 'object' && body !== null && 'file' in body) payload = body as { file: string };
  else if (body !== undefined) {
    payload = Buffer.from(JSON.stringify(body));
    h['content-type'] ??= 'application/json';
  }
  if (payload !== undefined)
    h['content-length'] = Buffer.isBuffer(payload) ? payload.length : statSync(payload.file).size;

  return new Promise((resolve, reject) => {
    const start = performance.now();
    const req = http.request(url, { method, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ms: performance.now() - start,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload === undefined) req.end();
    else if (Buffer.isBuffer(payload)) req.end(payload);
    else {
      const file = createReadStream(payload.file, { highWaterMark: 1 << 20 });
      file.on('error', (error) => req.destroy(error));
      file.pipe(req);
    }
  });
}

/** `request` that throws unless the answer has `status`; returns the parsed JSON body. */
export async function expectJson<T>(
  r: HttpRequest,
  status: number,
): Promise<{ json: T; ms: number; body: string }> {
  const res = await request(r);
  if (res.status !== status)
    throw new Error(`${r.method} ${r.url}: expected ${status}, got ${res.status}: ${res.body.slice(0, 500)}`);
  return { json: JSON.parse(res.body) as T, ms: res.ms, body: res.body };
}
