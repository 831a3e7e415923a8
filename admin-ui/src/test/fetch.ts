// A fake `fetch` for unit tests: records every request and answers from a queue.
import { vi } from 'vitest';

export interface Sent {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** JSON answer with a status (and optional headers). */
export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(status === 204 ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

/** A JSON body as its value; any other text (CSV) as it is. */
function parsed(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** Installs a fake fetch answering with `answer(request)`; returns the requests sent. */
export function fakeFetch(answer: (req: Sent) => Response | Promise<Response>): Sent[] {
  const sent: Sent[] = [];
  vi.stubGlobal('fetch', vi.fn(async (input: string, init: RequestInit = {}) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((v, k) => { headers[k] = v; });
    const req: Sent = {
      method: init.method ?? 'GET',
      url: String(input),
      headers,
      body: typeof init.body === 'string' ? parsed(init.body) : undefined,
    };
    sent.push(req);
    return answer(req);
  }));
  return sent;
}
