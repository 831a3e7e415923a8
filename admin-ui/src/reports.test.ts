import { describe, expect, it } from 'vitest';
import { COLUMNS, columnsOf, intervalFor, presetRange, seriesOf, sortRows, startOfDay, toCsv, totalsList } from './reports';
import { metrics, publisherMetrics } from './test/metrics';

const NY = 'America/New_York';

describe('date presets in the tenant zone', () => {
  it('gives whole days of New York across the end of DST: today is 25 hours, yesterday 24', () => {
    // 10:00 in New York on 2026-11-01, the day the clocks go back (EDT → EST).
    const now = new Date('2026-11-01T15:00:00Z');
    const today = presetRange('today', now, NY)!;
    expect(today).toEqual({ from: '2026-11-01T04:00:00.000Z', to: '2026-11-02T05:00:00.000Z' });
    expect(presetRange('yesterday', now, NY)).toEqual({ from: '2026-10-31T04:00:00.000Z', to: '2026-11-01T04:00:00.000Z' });
    expect(presetRange('last7', now, NY)).toEqual({ from: '2026-10-26T04:00:00.000Z', to: '2026-11-02T05:00:00.000Z' });
    expect(presetRange('last30', now, NY)!.from).toBe('2026-10-03T04:00:00.000Z');
    expect(intervalFor(today)).toBe('hour');
    expect(intervalFor(presetRange('last7', now, NY)!)).toBe('day');
  });

  it('gives a 23-hour today on the start of DST, and the local day, not the UTC one, late in the evening', () => {
    expect(presetRange('today', new Date('2026-03-08T12:00:00Z'), NY)).toEqual({ from: '2026-03-08T05:00:00.000Z', to: '2026-03-09T04:00:00.000Z' });
    // 22:30 on 2026-11-01 in New York is already 2026-11-02 in UTC.
    expect(presetRange('today', new Date('2026-11-02T03:30:00Z'), NY)!.from).toBe('2026-11-01T04:00:00.000Z');
    // East of UTC: 01:00 on 2026-12-05 in Tokyo is still 2026-12-04 in UTC.
    expect(presetRange('today', new Date('2026-12-04T16:00:00Z'), 'Asia/Tokyo')).toEqual({ from: '2026-12-04T15:00:00.000Z', to: '2026-12-05T15:00:00.000Z' });
  });

  it('takes custom days, both included, and refuses a backwards or half-typed range', () => {
    const now = new Date('2026-11-10T12:00:00Z');
    expect(presetRange('custom', now, NY, { from: '2026-10-31', to: '2026-11-01' })).toEqual({ from: '2026-10-31T04:00:00.000Z', to: '2026-11-02T05:00:00.000Z' });
    expect(presetRange('custom', now, NY, { from: '2026-11-02', to: '2026-11-01' })).toBeUndefined();
    expect(presetRange('custom', now, NY, { from: '2026-11-02', to: '' })).toBeUndefined();
  });

  it('starts a day whose midnight is skipped when the clocks jump forward', () => {
    // Chile moves from -04 to -03 at midnight: 2026-09-06 begins at 01:00.
    expect(startOfDay([2026, 9, 6], 'America/Santiago').toISOString()).toBe('2026-09-06T04:00:00.000Z');
    expect(startOfDay([2026, 9, 5], 'America/Santiago').toISOString()).toBe('2026-09-05T04:00:00.000Z');
  });
});

describe('summary tables', () => {
  const rows = [
    { key: 'a', name: 'Auto', currency: 'USD', metrics: metrics({ incoming: 5, revenueMinor: 1000, marginRate: 0.25 }) },
    { key: 'b', name: 'Bikes', currency: 'USD', metrics: metrics({ incoming: 9, revenueMinor: 250 }) },
    { key: 'c', name: 'Cars, "used"', currency: 'EUR', metrics: metrics({ incoming: 1, revenueMinor: 4000, marginRate: 0.5 }) },
  ];

  it('sorts by a figure either way, nulls last, and by name', () => {
    const by = (key: string, desc: boolean) => sortRows(rows, { key, desc }, COLUMNS).map((r) => r.key);
    expect(by('incoming', true)).toEqual(['b', 'a', 'c']);
    expect(by('incoming', false)).toEqual(['c', 'a', 'b']);
    // Money sorts by its minor units (a sort across currencies is by amount, as shown).
    expect(by('revenueMinor', true)).toEqual(['c', 'a', 'b']);
    expect(by('marginRate', true)).toEqual(['c', 'a', 'b']);
    expect(by('marginRate', false)).toEqual(['a', 'c', 'b']);
    expect(by('name', false)).toEqual(['a', 'b', 'c']);
  });

  it('writes the rows in their order and a totals row per currency as CSV, cells as shown, quoted where needed', () => {
    const cols = COLUMNS.filter((c) => ['incoming', 'revenueMinor', 'marginRate'].includes(c.key));
    const totals = totalsList([{ currency: 'EUR', metrics: metrics({ incoming: 1, revenueMinor: 4000, marginRate: 0.5 }) },
      { currency: 'USD', metrics: metrics({ incoming: 14, revenueMinor: 1250, marginRate: 0.2 }) }]);
    expect(toCsv('Campaign', cols, rows, totals)).toBe([
      'Campaign,Incoming,Revenue,Margin',
      'Auto,5,10.00 USD,25.0%',
      'Bikes,9,2.50 USD,—',
      '"Cars, ""used""",1,40.00 EUR,50.0%',
      'Total,1,40.00 EUR,50.0%',
      'Total,14,12.50 USD,20.0%',
      '',
    ].join('\n'));
  });

  it('reads totals as one object or a list, and keeps only the columns the answer has', () => {
    const one = { currency: 'USD', metrics: metrics({ incoming: 2 }) };
    expect(totalsList(one)).toEqual([one]);
    const shown = columnsOf(COLUMNS, publisherMetrics()).map((c) => c.label);
    expect(shown).toContain('Payout');
    for (const hidden of ['Revenue', 'Profit', 'Margin', 'Revenue per call']) expect(shown).not.toContain(hidden);
  });

  it('charts each bucket once, its calls summed over its currencies', () => {
    const s = seriesOf([
      { start: '2026-12-01T05:00:00Z', currency: 'EUR', metrics: metrics({ incoming: 1, connected: 1 }) },
      { start: '2026-12-01T05:00:00Z', currency: 'USD', metrics: metrics({ incoming: 3, converted: 2 }) },
      { start: '2026-12-02T05:00:00Z', currency: 'USD', metrics: metrics() },
    ]);
    expect(s).toEqual({ x: [Date.parse('2026-12-01T05:00:00Z') / 1000, Date.parse('2026-12-02T05:00:00Z') / 1000],
      incoming: [4, 0], connected: [1, 0], converted: [2, 0] });
  });
});
