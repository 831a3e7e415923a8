// A tenant's report API for unit tests: New York, a summary by campaign in
// two currencies, a campaign's drill-down rows, and an hourly series.
import { fakeFetch, json, type Sent } from './fetch';
import { metrics } from './metrics';

export const NY = 'America/New_York';
export const params = (r: Sent) => Object.fromEntries(new URL(r.url, 'http://x').searchParams);
export const path = (r: Sent) => r.url.split('?')[0];
/** The summaries asked for, but the one without `tz` that finds the tenant's zone. */
export const summariesAsked = (sent: Sent[]) => sent.filter((r) => path(r) === '/api/reports/summary' && params(r).tz).map(params);

/** A summary answer grouped by `groupBy`. */
export function summaryOf(groupBy: string, rows: { key: string; name: string; currency: string; metrics: ReturnType<typeof metrics> }[], totals: unknown) {
  return { from: '2026-12-04T05:00:00Z', to: '2026-12-05T05:00:00Z', tz: NY, groupBy, rows, totals };
}

export const BY_CAMPAIGN = summaryOf('campaign', [
  { key: 'k1', name: 'Auto', currency: 'USD', metrics: metrics({ incoming: 5, connected: 4, converted: 2, revenueMinor: 5000, payoutMinor: 1000, profitMinor: 4000, marginRate: 0.8 }) },
  { key: 'k2', name: 'Health', currency: 'USD', metrics: metrics({ incoming: 9, connected: 3, converted: 1, revenueMinor: 1500, payoutMinor: 0, profitMinor: 1500, marginRate: 1 }) },
  { key: 'k3', name: 'Euro', currency: 'EUR', metrics: metrics({ incoming: 2, connected: 2, converted: 2, revenueMinor: 9000, payoutMinor: 900, profitMinor: 8100, marginRate: 0.9 }) },
], [
  { currency: 'EUR', metrics: metrics({ incoming: 2, connected: 2, converted: 2, revenueMinor: 9000, payoutMinor: 900, profitMinor: 8100, marginRate: 0.9 }) },
  { currency: 'USD', metrics: metrics({ incoming: 15, connected: 7, converted: 3, revenueMinor: 6500, payoutMinor: 1000, profitMinor: 5500, marginRate: 0.8462 }) },
]);

export const SERIES = {
  from: '2026-12-04T05:00:00Z', to: '2026-12-04T07:00:00Z', tz: NY, interval: 'hour',
  buckets: [
    { start: '2026-12-04T05:00:00Z', currency: 'USD', metrics: metrics({ incoming: 3, connected: 2, converted: 1 }) },
    { start: '2026-12-04T05:00:00Z', currency: 'EUR', metrics: metrics({ incoming: 2, connected: 2, converted: 2 }) },
    { start: '2026-12-04T06:00:00Z', currency: 'USD', metrics: metrics({ incoming: 1 }) },
  ],
};

/** The report API of a tenant in New York: the summary by campaign above, a drill-down's rows, and the series. */
export function reportApi(): Sent[] {
  return fakeFetch((req) => {
    const q = params(req);
    if (path(req) === '/api/reports/timeseries') return json(200, { ...SERIES, interval: q.interval });
    if (path(req) === '/api/reports/summary' && q.campaignId) {
      const one = q.groupBy === 'buyer'
        ? { key: 'b1', name: 'Acme Insurance', currency: 'USD', metrics: metrics({ incoming: 4, connected: 4 }) }
        : { key: 'google', name: 'google', currency: 'USD', metrics: metrics({ incoming: 5, connected: 4 }) };
      return json(200, summaryOf(q.groupBy, [one], { currency: 'USD', metrics: metrics({ incoming: 5, connected: 4 }) }));
    }
    if (path(req) === '/api/reports/summary' && q.groupBy === 'campaign') return json(200, BY_CAMPAIGN);
    if (path(req) === '/api/reports/summary') return json(200, summaryOf(q.groupBy, [], { currency: 'USD', metrics: metrics() }));
    return json(404, { error: { code: 'not_found', message: 'no' } });
  });
}
