// The header's count of calls in progress (`/api/reports/live`), read again
// when the tenant's call events stream in (`/api/events`, Server-Sent
// Events). If the stream fails the count is polled every 10 s until it is
// back (EventSource reconnects by itself).
import { useEffect, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { doc } from './query';
import type { Live } from './types';

const LIVE = '/api/reports/live';

/** The event names of `/api/events` that change how many calls are in progress. */
export const LIVE_EVENTS = ['incoming', 'connected', 'completed', 'noConnect', 'rejected', 'blocked', 'duplicate', 'finalized'];

/** Events in a burst are read as one: at most one read per this many ms. */
const THROTTLE_MS = 300;

export function LiveCount() {
  const client = useQueryClient();
  const [polling, setPolling] = useState(typeof EventSource === 'undefined');
  const { data } = useQuery({ ...doc<Live>([LIVE], LIVE), refetchInterval: polling ? 10000 : false });

  useEffect(() => {
    if (typeof EventSource === 'undefined') return;
    const events = new EventSource('/api/events');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const changed = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void client.invalidateQueries({ queryKey: [LIVE] });
      }, THROTTLE_MS);
    };
    for (const name of LIVE_EVENTS) events.addEventListener(name, changed);
    events.onerror = () => setPolling(true);
    // (Re)connected: what happened meanwhile is read at once.
    events.onopen = () => { setPolling(false); changed(); };
    return () => {
      events.close();
      clearTimeout(timer);
    };
  }, [client]);

  return (
    <span className="live" title={polling ? 'Calls in progress (read every 10 s)' : 'Calls in progress (live)'}>
      <strong data-testid="live-calls">{data ? data.live : '…'}</strong> live {data?.live === 1 ? 'call' : 'calls'}
    </span>
  );
}
