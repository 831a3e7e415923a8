// What the report pages share: date ranges computed in the tenant's time
// zone (the server counts a call in the hour or day of `tz` it started in),
// the report queries, the columns of a summary table with their sort and CSV.
// The figures are the server's (`/api/reports/*`); nothing here adds up calls.
import { useQuery } from '@tanstack/react-query';
import { api } from './api';
import { minorToDecimal } from './money';
import type { Metrics, ReportTotals, Summary, Timeseries } from './types';

export type Preset = 'today' | 'yesterday' | 'last7' | 'last30' | 'custom';

export const PRESETS: [Preset, string][] = [
  ['today', 'Today'],
  ['yesterday', 'Yesterday'],
  ['last7', 'Last 7 days'],
  ['last30', 'Last 30 days'],
  ['custom', 'Custom'],
];

/** A calendar day: [year, month 1–12, day]. */
type Day = [number, number, number];

const partsFormat = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock fields of `t` in `tz`. */
function wallClock(t: Date, tz: string) {
  let f = partsFormat.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric' });
    partsFormat.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(t).map((x) => [x.type, Number(x.value)]));
  return { y: p.year, m: p.month, d: p.day, h: p.hour, min: p.minute, s: p.second };
}

/** How far `tz`'s clock is ahead of UTC at `t`, in ms. */
function offsetAt(t: Date, tz: string): number {
  const w = wallClock(t, tz);
  return Date.UTC(w.y, w.m - 1, w.d, w.h, w.min, w.s) - Math.floor(t.getTime() / 1000) * 1000;
}

/** The calendar day `n` days after `day` (months and years roll over). */
function addDays([y, m, d]: Day, n: number): Day {
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()];
}

/** The instant `day` starts in `tz` (its local midnight; after a DST gap at midnight, the gap's end). */
export function startOfDay(day: Day, tz: string): Date {
  const wall = Date.UTC(day[0], day[1] - 1, day[2]);
  // The offset at the guess, then at the corrected guess: right on either side of a DST change.
  let t = wall - offsetAt(new Date(wall), tz);
  t = wall - offsetAt(new Date(t), tz);
  const w = wallClock(new Date(t), tz);
  // Midnight fell in a gap: the day starts when the clocks jump forward.
  if (w.d !== day[2]) t += 3600000 - (w.min * 60 + w.s) * 1000;
  return new Date(t);
}

/** The day `t` falls on in `tz`. */
export function dayIn(t: Date, tz: string): Day {
  const w = wallClock(t, tz);
  return [w.y, w.m, w.d];
}

/** `2026-12-04` → [2026, 12, 4]; undefined when it is not a date. */
function parseDay(text: string): Day | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export interface Range { from: string; to: string }

/**
 * The half-open range `[from, to)` of a preset, whole days of `tz`: today,
 * yesterday, the last 7 or 30 days up to and including today, or the custom
 * days from `custom.from` to `custom.to` (both included). Undefined while a
 * custom range is incomplete or backwards.
 */
export function presetRange(preset: Preset, now: Date, tz: string, custom: { from: string; to: string } = { from: '', to: '' }): Range | undefined {
  const today = dayIn(now, tz);
  let first: Day;
  let last: Day;
  switch (preset) {
    case 'today': first = last = today; break;
    case 'yesterday': first = last = addDays(today, -1); break;
    case 'last7': first = addDays(today, -6); last = today; break;
    case 'last30': first = addDays(today, -29); last = today; break;
    case 'custom': {
      const [f, l] = [parseDay(custom.from), parseDay(custom.to)];
      if (!f || !l) return undefined;
      [first, last] = [f, l];
      break;
    }
  }
  const from = startOfDay(first, tz);
  const to = startOfDay(addDays(last, 1), tz);
  if (from >= to) return undefined;
  return { from: from.toISOString(), to: to.toISOString() };
}

/** Hourly buckets for ranges up to two days, daily ones beyond. */
export function intervalFor(range: Range): 'hour' | 'day' {
  return Date.parse(range.to) - Date.parse(range.from) <= 2 * 86400000 ? 'hour' : 'day';
}

/**
 * The tenant's time zone; undefined until read. A report without `tz` is in
 * the tenant's zone and says which, so the last hour's summary tells it to
 * every login (a publisher's may not read `/api/tenant`). Kept under the
 * tenant's key: saving the settings reads it again.
 */
export function useTenantZone(): { tz?: string; error: unknown } {
  const q = useQuery({
    queryKey: ['/api/tenant', 'zone'],
    queryFn: async () => {
      const now = Date.now();
      const probe = { from: new Date(now - 3600000).toISOString(), to: new Date(now).toISOString(), groupBy: 'day' };
      return (await api.get<Summary>('/api/reports/summary', probe)).tz;
    },
  });
  return { tz: q.data, error: q.error };
}

export type ReportQuery = Record<string, string | undefined>;

/** Query options: a summary report (`/api/reports/summary`). */
export const summary = (query: ReportQuery) => ({
  queryKey: ['/api/reports/summary', query],
  queryFn: () => api.get<Summary>('/api/reports/summary', query),
});

/** Query options: a time series (`/api/reports/timeseries`). */
export const timeseries = (query: ReportQuery) => ({
  queryKey: ['/api/reports/timeseries', query],
  queryFn: () => api.get<Timeseries>('/api/reports/timeseries', query),
});

/** `totals` as a list: one entry per currency (the API sends one object when there is one currency). */
export function totalsList(totals: Summary['totals']): ReportTotals[] {
  return Array.isArray(totals) ? totals : [totals];
}

/** Incoming, connected and converted per bucket start (seconds), summed over the currencies a bucket appears in. */
export function seriesOf(buckets: Timeseries['buckets']): { x: number[]; incoming: number[]; connected: number[]; converted: number[] } {
  const out = { x: [] as number[], incoming: [] as number[], connected: [] as number[], converted: [] as number[] };
  for (const b of buckets) {
    const x = Date.parse(b.start) / 1000;
    let i = out.x.length - 1;
    if (i < 0 || out.x[i] !== x) {
      out.x.push(x); out.incoming.push(0); out.connected.push(0); out.converted.push(0);
      i++;
    }
    out.incoming[i] += b.metrics.incoming;
    out.connected[i] += b.metrics.connected;
    out.converted[i] += b.metrics.converted;
  }
  return out;
}

/** A figure of a row: its number to sort by and its text as shown (and exported). */
export interface Column {
  key: string;
  label: string;
  /** Undefined when the answer has no such figure (money, for a publisher's login). */
  value: (m: Metrics) => number | null | undefined;
  format: (v: number, currency: string) => string;
}

const count = (v: number) => String(v);
const money = (v: number, currency: string) => `${minorToDecimal(v)} ${currency}`;
const percent = (v: number) => `${(v * 100).toFixed(1)}%`;
const seconds = (v: number) => `${v} s`;
const col = (key: keyof Metrics, label: string, format: Column['format'] = count): Column =>
  ({ key, label, value: (m) => m[key] as number | null | undefined, format });

/** Ringba's Summary columns, as the API names them. */
export const COLUMNS: Column[] = [
  col('incoming', 'Incoming'),
  col('live', 'Live'),
  col('connected', 'Connected'),
  col('completed', 'Completed'),
  col('converted', 'Converted'),
  col('rejected', 'Rejected'),
  col('noConnect', 'No connect'),
  col('duplicate', 'Duplicate'),
  col('blocked', 'Blocked'),
  col('revenueMinor', 'Revenue', money),
  col('payoutMinor', 'Payout', money),
  col('profitMinor', 'Profit', money),
  col('marginRate', 'Margin', percent),
  col('conversionRate', 'Conversion rate', percent),
  col('revenuePerCallMinor', 'Revenue per call', money),
  col('totalDurationSeconds', 'Total duration', seconds),
  col('averageDurationSeconds', 'Average duration', seconds),
];

/** The columns the answer has figures for (a publisher's login gets no revenue, profit or margin). */
export function columnsOf(columns: Column[], sample: Metrics | undefined): Column[] {
  return sample ? columns.filter((c) => c.key in sample) : columns;
}

/** A cell as shown: a figure the API left null (margin without revenue) is a dash. */
export function cell(c: Column, m: Metrics, currency: string): string {
  const v = c.value(m);
  return v === null || v === undefined ? '—' : c.format(v, currency);
}

export interface Sort { key: string; desc: boolean }

/** Rows sorted by a column (`name` sorts by the group's name), nulls last; ties keep the API's order. */
export function sortRows<R extends { name: string; metrics: Metrics }>(rows: R[], sort: Sort, columns: Column[]): R[] {
  const c = columns.find((x) => x.key === sort.key);
  const sign = sort.desc ? -1 : 1;
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => {
      if (!c) return sign * a.r.name.localeCompare(b.r.name) || a.i - b.i;
      const [x, y] = [c.value(a.r.metrics), c.value(b.r.metrics)];
      if (x === null || x === undefined) return y === null || y === undefined ? a.i - b.i : 1;
      if (y === null || y === undefined) return -1;
      return sign * (x - y) || a.i - b.i;
    })
    .map(({ r }) => r);
}

/** A CSV field, quoted when it holds a comma, a quote or a line break. */
function field(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The table as shown, as CSV: the header, the rows in their order, then the totals rows; each cell's text as on screen. */
export function toCsv(groupLabel: string, columns: Column[], rows: { name: string; currency: string; metrics: Metrics }[], totals: ReportTotals[]): string {
  const lines = [[groupLabel, ...columns.map((c) => c.label)]];
  for (const r of rows) lines.push([r.name, ...columns.map((c) => cell(c, r.metrics, r.currency))]);
  for (const t of totals) lines.push(['Total', ...columns.map((c) => cell(c, t.metrics, t.currency))]);
  return lines.map((l) => l.map(field).join(',')).join('\n') + '\n';
}
