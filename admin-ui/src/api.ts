// The JSON admin API of the same origin (README "Admin API"): errors are
// `{error: {code, message, fields?}}`, lists are `{items, nextCursor}`,
// versioned resources carry `version`, and a write names the version it
// replaces with `If-Match`. Money arrives as JSON numbers with at most two
// decimals; the client keeps it as the decimal text the server wrote, never
// a float (see `parseJson`).

import type { CurrentUser } from './types';

/** One field's problem, as a 422 lists them (`api/src/error.rs`: `{error: {code, message, fields: [{field, message}]}}`). */
export interface FieldError {
  field: string;
  message: string;
}

/** A refused request, with the API's code, message and field errors. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];

  constructor(status: number, code: string, message: string, fields: FieldError[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  /** The message for one field (`name`, `buyers[0].buyerId`), if the API named it. */
  field(name: string): string | undefined {
    return this.fields.find((f) => f.field === name)?.message;
  }

  /** Whether someone else saved first: a stale version in the body (409) or in If-Match (412). */
  get stale(): boolean {
    return this.code === 'version_conflict' || this.code === 'precondition_failed' || this.status === 412;
  }

  /** What to tell a person: a stale version and an in-use conflict get their own words. */
  get summary(): string {
    if (this.stale) {
      return `Someone else changed this since you loaded it (${this.message}). Reload to see their version, then make your change again.`;
    }
    if (this.status === 409) return `Conflict: ${this.message}`;
    if (this.status === 422) return `Please correct the fields below (${this.message}).`;
    if (this.status === 403) return `Not allowed: ${this.message}`;
    return this.message;
  }
}

/** A page of a list. */
export interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

/** Keys whose numeric values are money (decimal amounts) in the API's JSON. */
export const MONEY_KEYS = ['revenue', 'floorPrice', 'minBidAmount', 'maxBidAmount', 'amount', 'winningBid'];

const moneyNumber = new RegExp(
  `([{,]\\s*"(?:${MONEY_KEYS.join('|')})"\\s*:\\s*)(-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?)`,
  'g',
);

/**
 * JSON.parse, except that money amounts are kept as the decimal text the
 * server wrote (`"revenue": 25.5` → `"25.5"`): a float would round.
 */
export function parseJson(text: string): unknown {
  return JSON.parse(text.replace(moneyNumber, '$1"$2"'));
}

let onUnauthorized: () => void = () => {};

/** Called on every 401 (the session ended or never began): the app shows the login page. */
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  /** JSON body. */
  body?: unknown;
  /** The version this write replaces, sent as `If-Match: "N"`. */
  version?: number | null;
  /** Query parameters; empty and undefined values are left out. */
  query?: Record<string, string | number | undefined | null>;
  /** `Accept` header (default JSON). */
  accept?: string;
  /** `Content-Type` of the body (default JSON). */
  contentType?: string;
  /** A body sent as it is (CSV), instead of `body` as JSON. */
  text?: string;
}

/** A path with its query string. */
export function withQuery(path: string, query?: RequestOptions['query']): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Turns a failed response into an ApiError (any body: ours, or plain text from a proxy). */
export async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const e = (JSON.parse(text) as { error?: { code?: string; message?: string; fields?: FieldError[] } }).error;
    if (e && typeof e.message === 'string') {
      return new ApiError(res.status, e.code ?? 'error', e.message, Array.isArray(e.fields) ? e.fields : []);
    }
  } catch {
    // not JSON: fall through
  }
  return new ApiError(res.status, 'http_' + res.status, text.trim() || `${res.status} ${res.statusText}`);
}

/** Sends a request; resolves with the raw response when it succeeded, throws ApiError otherwise. */
export async function send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { Accept: opts.accept ?? 'application/json' };
  if (opts.body !== undefined || opts.text !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
  if (opts.version !== undefined && opts.version !== null) headers['If-Match'] = `"${opts.version}"`;
  let res: Response;
  try {
    res = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.text ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    });
  } catch (e) {
    throw new ApiError(0, 'network', `the server could not be reached (${String(e)})`);
  }
  if (!res.ok) {
    const err = await errorFrom(res);
    if (res.status === 401) onUnauthorized();
    throw err;
  }
  return res;
}

/** Sends a request and reads its JSON answer (undefined for 204). */
export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(method, path, opts);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? parseJson(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, query?: RequestOptions['query']) => request<T>('GET', path, { query }),
  post: <T>(path: string, body: unknown) => request<T>('POST', path, { body }),
  /** Replaces the whole resource. */
  put: <T>(path: string, body: unknown, version?: number | null) => request<T>('PUT', path, { body, version }),
  /** Changes only the fields `body` names (JSON Merge Patch: `null` removes one). */
  patch: <T>(path: string, body: unknown, version?: number | null) =>
    request<T>('PATCH', path, { body, version, contentType: 'application/merge-patch+json' }),
  del: (path: string, version?: number | null) => request<void>('DELETE', path, { version }),
  /** Posts text as it is (a CSV import). */
  postText: <T>(path: string, text: string, contentType: string, query?: RequestOptions['query']) =>
    request<T>('POST', path, { text, contentType, query }),
};

export type { CurrentUser };

export const auth = {
  /** The current user, or null when nobody is signed in. */
  async user(): Promise<CurrentUser | null> {
    const res = await fetch('/api/auth/user', { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
    if (res.status === 401) return null;
    if (!res.ok) throw await errorFrom(res);
    return (await res.json()) as CurrentUser;
  },
  login: (username: string, password: string) => {
    // A wrong password is a 401 too: the caller shows it, it is not a lost session.
    return fetch('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ username, password }),
    }).then(async (res) => {
      if (!res.ok) throw await errorFrom(res);
      return (await res.json()) as CurrentUser;
    });
  },
  logout: () => request<void>('POST', '/api/auth/logout'),
};
