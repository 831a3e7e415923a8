import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from '../test/render';
import { fakeFetch, json } from '../test/fetch';
import { publisherMetrics } from '../test/metrics';
import { NY, SERIES, params, path, reportApi, summariesAsked, summaryOf } from '../test/reports';
import { charts } from '../test/uplot';
import { presetRange } from '../reports';
import { LastWeek, ReportsPage, PUBLISHER_GROUPS } from './Reports';

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  charts.length = 0;
});

/** The names of the rows of the table captioned `caption`, in order. */
const rowNames = (caption: string) =>
  within(screen.getByRole('table', { name: caption })).getAllByRole('rowheader').map((h) => h.textContent);

describe('the Reports page', () => {
  it("asks for the last 7 days in the tenant's zone, and shows rows, a totals row per currency and the chart of the buckets", async () => {
    const sent = reportApi();
    render(<ReportsPage />);
    const table = await screen.findByRole('table', { name: 'By campaign' });
    const expected = presetRange('last7', new Date(), NY)!;
    const asked = summariesAsked(sent);
    expect(asked).toEqual([{ from: expected.from, to: expected.to, tz: NY, groupBy: 'campaign' }]);
    const series = sent.filter((r) => path(r) === '/api/reports/timeseries').map(params);
    expect(series).toEqual([{ from: expected.from, to: expected.to, tz: NY, interval: 'day' }]);

    expect(rowNames('By campaign')).toEqual(['Auto', 'Health', 'Euro', 'Total', 'Total']);
    const totals = within(table).getAllByRole('row').filter((r) => r.className === 'totals').map((r) => r.textContent);
    // Money is never added across currencies: one totals row each.
    expect(totals[0]).toMatch(/^Total2.*90\.00 EUR9\.00 EUR81\.00 EUR90\.0%/);
    expect(totals[1]).toMatch(/^Total15.*65\.00 USD10\.00 USD55\.00 USD84\.6%/);
    const headers = within(table).getAllByRole('columnheader').map((h) => h.textContent);
    expect(headers).toEqual(['Campaign', 'Incoming', 'Live', 'Connected', 'Completed', 'Converted', 'Rejected', 'No connect', 'Duplicate',
      'Blocked', 'Revenue', 'Payout', 'Profit', 'Margin', 'Conversion rate', 'Revenue per call', 'Total duration', 'Average duration']);

    // One chart: per bucket, the calls of both currencies together.
    await waitFor(() => expect(charts).toHaveLength(1));
    expect(charts[0].opts.series.map((s) => s.label)).toEqual(['Day', 'Incoming', 'Connected', 'Converted']);
    expect(charts[0].data.slice(1)).toEqual([[5, 1], [4, 0], [3, 0]]);
  });

  it('sorts by a column header, and again the other way', async () => {
    reportApi();
    render(<ReportsPage />);
    await screen.findByRole('table', { name: 'By campaign' });
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Revenue' }));
    expect(rowNames('By campaign').slice(0, 3)).toEqual(['Euro', 'Auto', 'Health']);
    expect(screen.getByRole('columnheader', { name: 'Revenue' }).getAttribute('aria-sort')).toBe('descending');
    await u.click(screen.getByRole('button', { name: 'Revenue' }));
    expect(rowNames('By campaign').slice(0, 3)).toEqual(['Health', 'Auto', 'Euro']);
    await u.click(screen.getByRole('button', { name: 'Campaign' }));
    expect(rowNames('By campaign').slice(0, 3)).toEqual(['Auto', 'Euro', 'Health']);
  });

  it('exports exactly the rows shown, in their order, with the totals', async () => {
    reportApi();
    let saved: Blob | undefined;
    URL.createObjectURL = vi.fn((b: Blob) => { saved = b; return 'blob:x'; });
    URL.revokeObjectURL = vi.fn();
    vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(() => {});
    render(<ReportsPage />);
    await screen.findByRole('table', { name: 'By campaign' });
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Incoming' }));
    await u.click(screen.getByRole('button', { name: 'Export CSV' }));
    // (jsdom's Blob has no text(): read it as a browser would.)
    const text = await new Promise<string>((done) => { const r = new FileReader(); r.onload = () => done(String(r.result)); r.readAsText(saved!); });
    const lines = text.trim().split('\n');
    expect(lines.map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['Campaign,Incoming', 'Health,9', 'Auto,5', 'Euro,2', 'Total,2', 'Total,15']);
    // Each cell as on screen.
    const shown = within(screen.getByRole('table', { name: 'By campaign' })).getAllByRole('row')[1];
    expect(lines[1]).toBe([...shown.children].map((c) => c.textContent).join(','));
  });

  it("drills down from a campaign to its buyers and sources, and the chart follows", async () => {
    const sent = reportApi();
    render(<ReportsPage />);
    await screen.findByRole('table', { name: 'By campaign' });
    await userEvent.setup().click(screen.getByRole('button', { name: 'Auto' }));
    await screen.findByRole('heading', { name: 'Campaign Auto' });
    await screen.findByRole('table', { name: 'Auto by buyer' });
    await screen.findByRole('table', { name: 'Auto by source' });
    expect(rowNames('Auto by buyer')).toEqual(['Acme Insurance', 'Total']);
    expect(rowNames('Auto by source')).toEqual(['google', 'Total']);
    const drills = sent.filter((r) => params(r).campaignId === 'k1').map((r) => [path(r), params(r).groupBy ?? params(r).interval]);
    expect(drills).toEqual(expect.arrayContaining([['/api/reports/timeseries', 'day'], ['/api/reports/summary', 'buyer'], ['/api/reports/summary', 'utmSource']]));
    await userEvent.setup().click(screen.getByRole('button', { name: 'All campaigns' }));
    await screen.findByRole('table', { name: 'By campaign' });
  });

  it('groups by another tab; asks for hours over today, for days over a custom range', async () => {
    const sent = reportApi();
    render(<ReportsPage />);
    await screen.findByRole('table', { name: 'By campaign' });
    const u = userEvent.setup();
    await u.click(screen.getByRole('tab', { name: 'Source' }));
    await screen.findByRole('table', { name: 'By source' });
    expect(screen.getByText('No calls in this range.')).toBeTruthy();
    await u.selectOptions(screen.getByLabelText('Range'), 'today');
    const today = presetRange('today', new Date(), NY)!;
    await waitFor(() => expect(sent.some((r) => path(r) === '/api/reports/timeseries' && params(r).from === today.from && params(r).interval === 'hour')).toBe(true));
    await u.selectOptions(screen.getByLabelText('Range'), 'custom');
    await u.type(screen.getByLabelText('From day'), '2026-10-31');
    await u.type(screen.getByLabelText('To day (included)'), '2026-11-06');
    await waitFor(() => expect(sent.some((r) => params(r).from === '2026-10-31T04:00:00.000Z' && params(r).groupBy === 'utmSource')).toBe(true));
    const last = sent.filter((r) => path(r) === '/api/reports/timeseries').map(params).pop();
    expect(last).toEqual({ from: '2026-10-31T04:00:00.000Z', to: '2026-11-07T05:00:00.000Z', tz: NY, interval: 'day' });
  });

  it("for a publisher's login: no buyer or publisher tab, and no money columns the server left out", async () => {
    fakeFetch((req) => {
      if (path(req) === '/api/reports/timeseries') return json(200, SERIES);
      const own = publisherMetrics({ incoming: 3, payoutMinor: 1200 });
      return json(200, summaryOf('campaign', [{ key: 'k1', name: 'Auto', currency: 'USD', metrics: own }],
        { currency: 'USD', metrics: own }));
    });
    render(<ReportsPage title="My reports" groups={PUBLISHER_GROUPS} />);
    const table = await screen.findByRole('table', { name: 'By campaign' });
    expect(screen.getAllByRole('tab').map((t) => t.textContent)).toEqual(['Campaign', 'Number', 'Source', 'Day', 'Hour']);
    const headers = within(table).getAllByRole('columnheader').map((h) => h.textContent);
    expect(headers).toContain('Payout');
    for (const hidden of ['Revenue', 'Profit', 'Margin', 'Revenue per call']) expect(headers).not.toContain(hidden);
    expect(within(table).getAllByRole('row')[1].textContent).toMatch(/Auto3.*12\.00 USD/);
  });
});

describe('the last 7 days of a campaign or buyer', () => {
  it('charts its days from the time series filtered to it', async () => {
    const sent = reportApi();
    render(<LastWeek filter={{ buyerId: 'b1' }} label="Calls Acme took, last 7 days" />);
    await waitFor(() => expect(charts).toHaveLength(1));
    expect(screen.getByRole('figure', { name: 'Calls Acme took, last 7 days' })).toBeTruthy();
    const q = sent.filter((r) => path(r) === '/api/reports/timeseries').map(params);
    expect(q).toEqual([{ buyerId: 'b1', ...presetRange('last7', new Date(), NY)!, tz: NY, interval: 'day' }]);
  });
});
