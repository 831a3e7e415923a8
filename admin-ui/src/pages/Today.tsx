// Today at a glance: the calls since local midnight, counted per campaign and
// per buyer from the call records themselves (GET /api/calls, every page up
// to a limit), refreshed on demand or every 30 s.
import { useState } from 'react';
import { useQueries } from '@tanstack/react-query';
import { CheckField, ErrorBanner } from '../components';
import { minorToDecimal } from '../money';
import { list, readAll } from '../query';
import type { Buyer, CallRecord, Campaign, Named } from '../types';

/** Most calls read for the summary (20 pages of 500). */
export const MAX_CALLS = 10000;

export interface Tally {
  calls: number;
  live: number;
  routed: number;
  rejected: number;
  /** Refused because the caller is on the blocklist. */
  blocked: number;
  converted: number;
  /** Revenue in minor units per currency. */
  revenue: Record<string, number>;
}

const zero = (): Tally => ({ calls: 0, live: 0, routed: 0, rejected: 0, blocked: 0, converted: 0, revenue: {} });

/** Counts calls by a key (campaign, buyer); `key` may skip a call by returning null. */
export function tally(calls: CallRecord[], key: (c: CallRecord) => string | null): Map<string, Tally> {
  const out = new Map<string, Tally>();
  for (const c of calls) {
    const k = key(c);
    if (k === null) continue;
    const t = out.get(k) ?? zero();
    t.calls++;
    if (c.status === 'ringing' || c.status === 'in-progress') t.live++;
    if (c.buyerId) t.routed++;
    if (c.status === 'rejected') t.rejected++;
    if (c.status === 'blocked') t.blocked++;
    if (c.converted) t.converted++;
    if (c.revenueMinor) {
      const cur = c.currency ?? '';
      t.revenue[cur] = (t.revenue[cur] ?? 0) + c.revenueMinor;
    }
    out.set(k, t);
  }
  return out;
}

const money = (r: Record<string, number>) =>
  Object.entries(r).map(([cur, minor]) => `${minorToDecimal(minor)} ${cur}`).join(', ') || 'none';

/** Today's calls: every page since local midnight, up to MAX_CALLS. */
async function callsToday() {
  const since = new Date();
  since.setHours(0, 0, 0, 0);
  const { items, truncated } = await readAll<CallRecord>('/api/calls', { from: since.toISOString() }, MAX_CALLS);
  return { calls: items, since, truncated, at: new Date() };
}

function TallyTable({ caption, rows, name }: { caption: string; rows: Map<string, Tally>; name: (k: string) => string }) {
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Name</th><th scope="col">Calls</th><th scope="col">Live now</th><th scope="col">Routed</th>
          <th scope="col">Rejected</th><th scope="col">Blocked</th><th scope="col">Converted</th><th scope="col">Revenue</th>
        </tr>
      </thead>
      <tbody>
        {[...rows.entries()].sort((a, b) => b[1].calls - a[1].calls).map(([k, t]) => (
          <tr key={k}>
            <th scope="row">{name(k)}</th>
            <td>{t.calls}</td><td>{t.live}</td><td>{t.routed}</td><td>{t.rejected}</td><td>{t.blocked}</td><td>{t.converted}</td><td>{money(t.revenue)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function TodayPage() {
  const [live, setLive] = useState(false);
  const [today, campaigns, buyers, targets] = useQueries({
    queries: [
      { queryKey: ['/api/calls', 'today'], queryFn: callsToday, refetchInterval: live ? 30000 : (false as const) },
      list<Campaign>('/api/campaigns'),
      list<Buyer>('/api/buyers'),
      // An RTB call's buyer is the winning target.
      list<Named>('/api/rtb/targets'),
    ],
  });
  const error = today.error ?? campaigns.error ?? buyers.error ?? targets.error;
  const names = campaigns.data && buyers.data && targets.data ? { campaigns: campaigns.data, buyers: [...buyers.data, ...targets.data] } : undefined;
  const data = today.data && names ? { ...today.data, ...names } : undefined;
  const loading = today.isFetching;
  const reload = () => void today.refetch();

  const total = data ? tally(data.calls, () => 'all').get('all') ?? zero() : undefined;
  const campaignName = (id: string) => data?.campaigns.find((c) => c.id === id)?.name ?? id;
  const buyerName = (id: string) => data?.buyers.find((b) => b.id === id)?.name ?? id;
  return (
    <section>
      <header className="page-head">
        <h1>Today</h1>
        <button type="button" onClick={reload} disabled={loading}>Refresh</button>
      </header>
      <CheckField label="Refresh every 30 seconds" checked={live} onChange={setLive} />
      <ErrorBanner error={error} />
      {!data && !error && <p>Loading…</p>}
      {data && total && (
        <>
          <p>
            Since midnight in {Intl.DateTimeFormat().resolvedOptions().timeZone} ({data.since.toLocaleString()}; as of{' '}
            {data.at.toLocaleTimeString()}; buyers' caps count in each buyer's own time zone):{' '}
            <strong data-testid="today-calls">{total.calls}</strong> calls, <strong>{total.live}</strong> live now,{' '}
            <strong>{total.routed}</strong> routed to a buyer, <strong>{total.rejected}</strong> rejected, <strong>{total.blocked}</strong> blocked,{' '}
            <strong>{total.converted}</strong> converted, revenue <strong>{money(total.revenue)}</strong>.
            {data.truncated && <> Only the latest {MAX_CALLS} calls are counted.</>}
          </p>
          {total.calls > 0 && (
            <>
              <TallyTable caption="By campaign" rows={tally(data.calls, (c) => c.campaignId)} name={campaignName} />
              <TallyTable caption="By buyer (the buyer that took the call)" rows={tally(data.calls, (c) => c.buyerId)} name={buyerName} />
            </>
          )}
        </>
      )}
    </section>
  );
}
