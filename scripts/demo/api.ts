/**
 * The demo's REST client: plain fetch against the marketplace API, the error shape of API.md turned
 * into `ApiError` (status, code, message, details), and a marker for routes the running API does not
 * have (a feature not landed in that build).
 */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  readonly details: unknown;
  readonly method: string;
  readonly path: string;
  constructor(method: string, path: string, status: number, body: unknown, text: string) {
    const parsed = (body ?? {}) as { code?: string; message?: string; details?: unknown };
    super(
      `${method} ${path} answered ${status}${parsed.code ? ` ${parsed.code}` : ''}: ${parsed.message ?? text.slice(0, 300)}`,
    );
    this.name = 'ApiError';
    this.status = status;
    this.code = parsed.code;
    this.details = parsed.details;
    this.method = method;
    this.path = path;
  }

  /** The API has no such route (404 from the not-found handler, not a missing resource). */
  get routeMissing(): boolean {
    return (
      this.status === 404 && /^Route \S+ \S+ not found/.test(this.message.split(': ').slice(1).join(': '))
    );
  }
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies of many shapes, read field by field
export type Json = any;

export type RequestOptions = {
  /** JSON body, a string (sent with `contentType`), or FormData. */
  body?: unknown;
  contentType?: string;
  /** Send the admin API key (default true). */
  auth?: boolean;
};

export type ApiClient = {
  baseUrl: string;
  request: (method: string, path: string, options?: RequestOptions) => Promise<Json>;
  get: (path: string) => Promise<Json>;
  post: (path: string, body?: unknown) => Promise<Json>;
};

export function createApiClient(parameters: { baseUrl: string; apiKey: string }): ApiClient {
  const baseUrl = parameters.baseUrl.replace(/\/+$/, '');
  const request = async (method: string, path: string, options: RequestOptions = {}) => {
    const headers: Record<string, string> = {};
    if (options.auth ?? true) headers.authorization = `Bearer ${parameters.apiKey}`;
    let body: string | FormData | undefined;
    if (options.body instanceof FormData) {
      body = options.body;
    } else if (typeof options.body === 'string') {
      body = options.body;
      headers['content-type'] = options.contentType ?? 'text/plain';
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body });
    const text = await response.text();
    let json: Json;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) throw new ApiError(method, path, response.status, json, text);
    return json;
  };
  return {
    baseUrl,
    request,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, { body }),
  };
}
