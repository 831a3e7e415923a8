// The console's one data layer (TanStack Query): every read is a query
// cached under a key that starts with the API collection it reads
// (`['/api/buyers', 'all']`, `['/api/buyers', id, 'stats']`), and every write
// invalidates the collections it changes, so whatever page shows them next
// (or now) reads them again. Pages hold no fetch loops of their own.
import {
  QueryClient,
  useInfiniteQuery,
  useMutation,
  useQueryClient,
  type QueryKey,
} from '@tanstack/react-query';
import { useRef } from 'react';
import { api, send, type Page } from './api';

/** A client for the console: no retries (a refusal is shown at once), no refetch on focus (a form's draft is the user's). */
export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: false, refetchOnWindowFocus: false, refetchOnReconnect: false },
      mutations: { retry: false },
    },
  });
}

/**
 * Which collections a write to `path` changes besides its own: the
 * inventory shows which campaign or pool holds a number, a router lists its
 * targets, and a user's API keys go with it.
 */
const ALSO: Record<string, string[]> = {
  '/api/campaigns': ['/api/numbers'],
  '/api/pools': ['/api/numbers'],
  '/api/numbers': ['/api/pools'],
  '/api/rtb/targets': ['/api/rtb/routers'],
  '/api/users': ['/api/api-keys'],
};

/** The collections a write to each of `paths` changes. */
function affected(...paths: string[]): string[] {
  return [...new Set(paths.flatMap((p) => [p, ...(ALSO[p] ?? [])]))];
}

/** Marks every query of these collections stale; the ones on screen are read again. */
export function invalidate(client: QueryClient, paths: string[]): Promise<void> {
  return Promise.all(affected(...paths).map((p) => client.invalidateQueries({ queryKey: [p] }))).then(() => undefined);
}

/** Configuration lists are small: at most 100 pages of 500 are read. */
const MAX_ITEMS = 50000;

/** Every item of a configuration list, following its cursor, up to MAX_ITEMS (the query function of `list`). */
async function readAll<T>(path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.get<Page<T>>(path, { cursor, limit: 500 });
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor && items.length < MAX_ITEMS);
  return items;
}

/**
 * Every page of a list as one CSV text (a download, not cached). The API
 * answers CSV for `Accept: text/csv`, a page at a time with the next cursor
 * in `X-Next-Cursor`: follow it and keep the header line once.
 */
export async function readCsv(path: string, query: Record<string, string | number | undefined>, maxPages: number): Promise<string> {
  let cursor: string | undefined;
  let out = '';
  for (let i = 0; i < maxPages; i++) {
    const res = await send('GET', path, { query: { ...query, cursor }, accept: 'text/csv' });
    const text = await res.text();
    if (i === 0) {
      out = text;
    } else {
      const nl = text.indexOf('\n');
      out += nl < 0 ? '' : text.slice(nl + 1);
    }
    cursor = res.headers.get('X-Next-Cursor') ?? undefined;
    if (!cursor) break;
  }
  return out;
}

/** Query options: every item of a configuration list. */
export const list = <T>(path: string) => ({
  queryKey: [path, 'all'] as QueryKey,
  queryFn: () => readAll<T>(path),
});

/** Query options: one resource, `GET {path}/{id}`. */
export const item = <T>(path: string, id: string) => ({
  queryKey: [path, id] as QueryKey,
  queryFn: () => api.get<T>(`${path}/${id}`),
});

/** Query options: one document under a collection's key (`GET /api/tenant`, `/api/buyers/ID/stats`). */
export const doc = <T>(key: QueryKey, path: string) => ({
  queryKey: key,
  queryFn: () => api.get<T>(path),
});

/**
 * A list read a page at a time, newest first: the first page for `query`,
 * the next one appended on `more()`. The key holds the query, so an answer
 * to other filters (a request that a newer one superseded) lands under its
 * own key and never mixes into the list shown.
 */
export function usePaged<T>(path: string, query: Record<string, string | number | undefined | null>, opts: { refetchInterval?: number | false } = {}) {
  const q = useInfiniteQuery({
    queryKey: [path, 'pages', query],
    queryFn: ({ pageParam }) => api.get<Page<T>>(path, { ...query, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: opts.refetchInterval,
  });
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];
  const more = () => {
    if (q.hasNextPage && !q.isFetching) void q.fetchNextPage();
  };
  return {
    items,
    hasMore: q.hasNextPage,
    error: q.error,
    loading: q.isFetching,
    more,
    /** Reads every page shown again (news at the top). */
    reload: () => { void q.refetch(); },
  };
}

/**
 * A write from a list (delete, pause, release): one at a time, its error
 * kept until the next, and the collections it changes invalidated after.
 */
export function useAction<A>(run: (arg: A) => Promise<unknown>, paths: string[]) {
  const client = useQueryClient();
  // State updates are not seen until the next render: a second click before it must not send twice.
  const inFlight = useRef(false);
  const m = useMutation({
    mutationFn: run,
    onSuccess: () => { void invalidate(client, paths); },
  });
  return {
    /** Runs it unless one is in flight; resolves whether it succeeded (the error is in `error`). */
    run: async (arg: A): Promise<boolean> => {
      if (inFlight.current) return false;
      inFlight.current = true;
      try {
        await m.mutateAsync(arg);
        return true;
      } catch {
        return false;
      } finally {
        inFlight.current = false;
      }
    },
    busy: m.isPending,
    /** The argument of the write in flight. */
    pending: m.isPending ? m.variables : undefined,
    error: m.error,
    clear: m.reset,
  };
}
