// Today at a glance: the server's figures since midnight in the tenant's
// time zone (`/api/reports/summary`), per campaign and per buyer, refreshed
// on demand or every 30 s.
import { useState } from 'react';
import { useQueries } from '@tanstack/react-query';
import { CheckField, ErrorBanner } from '../components';
import { COLUMNS, cell, presetRange, summary, totalsList, useTenantZone } from '../reports';
import { ReportTable } from './Reports';

/** Today's columns: the calls, what became of them, and the revenue. */
export const TODAY_COLUMNS = ['incoming', 'live', 'connected', 'rejected', 'blocked', 'converted', 'revenueMinor']
  .map((k) => COLUMNS.find((c) => c.key === k)!);

export function TodayPage() {
  const [live, setLive] = useState(false);
  const { tz, error: tzError } = useTenantZone();
  const range = tz ? presetRange('today', new Date(), tz) : undefined;
  const refetchInterval = live ? 30000 : (false as const);
  const base = { from: range?.from, to: range?.to, tz };
  const [byCampaign, byBuyer] = useQueries({
    queries: [
      { ...summary({ ...base, groupBy: 'campaign' }), enabled: !!range, refetchInterval },
      { ...summary({ ...base, groupBy: 'buyer' }), enabled: !!range, refetchInterval },
    ],
  });
  const error = tzError ?? byCampaign.error ?? byBuyer.error;
  const loading = byCampaign.isFetching || byBuyer.isFetching;
  const reload = () => { void byCampaign.refetch(); void byBuyer.refetch(); };
  const totals = byCampaign.data ? totalsList(byCampaign.data.totals) : [];
  // Counts add up across currencies; money does not.
  const count = (key: 'incoming' | 'live' | 'connected' | 'rejected' | 'blocked' | 'converted') => totals.reduce((n, t) => n + t.metrics[key], 0);
  const revenue = totals.map((t) => cell(TODAY_COLUMNS[6], t.metrics, t.currency)).join(', ');

  return (
    <section>
      <header className="page-head">
        <h1>Today</h1>
        <button type="button" onClick={reload} disabled={loading}>Refresh</button>
      </header>
      <CheckField label="Refresh every 30 seconds" checked={live} onChange={setLive} />
      <ErrorBanner error={error} />
      {!byCampaign.data && !error && <p>Loading…</p>}
      {byCampaign.data && range && (
        <p>
          Since midnight in {tz} ({new Date(range.from).toLocaleString()} your time; buyers' caps count in each buyer's own time zone):{' '}
          <strong data-testid="today-calls">{count('incoming')}</strong> calls, <strong>{count('live')}</strong> live now,{' '}
          <strong>{count('connected')}</strong> connected, <strong>{count('rejected')}</strong> rejected,{' '}
          <strong>{count('blocked')}</strong> blocked, <strong>{count('converted')}</strong> converted, revenue <strong>{revenue}</strong>.
        </p>
      )}
      {byCampaign.data && <ReportTable caption="By campaign" report={byCampaign.data} columns={TODAY_COLUMNS} />}
      {byBuyer.data && <ReportTable caption="By buyer (the buyer that took the call)" report={byBuyer.data} columns={TODAY_COLUMNS} />}
    </section>
  );
}
