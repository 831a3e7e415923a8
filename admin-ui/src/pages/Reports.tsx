// Reports, the page staff land on: the server's figures for a range of days
// in the tenant's time zone, grouped by campaign, buyer, publisher, number,
// source, day or hour; a chart of the calls per hour or day; a campaign's
// row drills down to its buyers and sources. A publisher's login gets the
// same page over its own calls ("My reports"): the server scopes the rows and
// leaves out the money that is not its own, and the columns follow.
import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { CallsChart } from '../Chart';
import { ErrorBanner, SelectField, TextField } from '../components';
import {
  COLUMNS, PRESETS, cell, columnsOf, intervalFor, presetRange, sortRows, summary, timeseries, toCsv, totalsList, useTenantZone,
  type Column, type Preset, type Range, type ReportQuery, type Sort,
} from '../reports';
import type { Summary, SummaryRow } from '../types';
import { saveFile } from './Calls';

/** Group-by tabs: [groupBy, label]. */
export const STAFF_GROUPS: [string, string][] = [
  ['campaign', 'Campaign'],
  ['buyer', 'Buyer'],
  ['publisher', 'Publisher'],
  ['number', 'Number'],
  ['utmSource', 'Source'],
  ['day', 'Day'],
  ['hour', 'Hour'],
];

/** What a publisher's login may group its own calls by (the server refuses buyers and publishers). */
export const PUBLISHER_GROUPS: [string, string][] = STAFF_GROUPS.filter(([g]) => !['buyer', 'publisher'].includes(g));

/** A row's name as shown: an hour as its local wall time, an empty source as "(none)". */
function rowName(groupBy: string, r: SummaryRow): string {
  if (groupBy === 'hour') return r.key.slice(0, 16).replace('T', ' ');
  return r.name || '(none)';
}

/**
 * A summary as a table: sortable by any column (click a header; again to
 * reverse), a totals row per currency (money shows its currency), and the
 * CSV of exactly what is shown. `onPick` makes each row's name a button (drill-down).
 */
export function ReportTable(props: {
  caption: string;
  report: Summary;
  columns?: Column[];
  onPick?: (row: SummaryRow) => void;
  /** The download's name, without `.csv`; no export button when left out. */
  csvName?: string;
}) {
  const { report, onPick } = props;
  const [sort, setSort] = useState<Sort>();
  const totals = totalsList(report.totals);
  const columns = columnsOf(props.columns ?? COLUMNS, totals[0]?.metrics);
  const rows = (sort ? sortRows(report.rows, sort, columns) : report.rows).map((r) => ({ ...r, name: rowName(report.groupBy, r) }));
  const groupLabel = STAFF_GROUPS.find(([g]) => g === report.groupBy)?.[1] ?? report.groupBy;

  const sortBy = (key: string) =>
    setSort((s) => (s?.key === key ? { key, desc: !s.desc } : { key, desc: key !== 'name' }));
  const ariaSort = (key: string) => (sort?.key === key ? (sort.desc ? 'descending' : 'ascending') : undefined);
  const exportCsv = () => saveFile(toCsv(groupLabel, columns, rows, totals), 'text/csv', `${props.csvName}.csv`);

  return (
    <>
      {props.csvName && <button type="button" onClick={exportCsv}>Export CSV</button>}
      <div className="table-scroll">
        <table className="report">
          <caption>{props.caption}</caption>
          <thead>
            <tr>
              <th scope="col" aria-sort={ariaSort('name')}><button type="button" className="sort" onClick={() => sortBy('name')}>{groupLabel}</button></th>
              {columns.map((c) => (
                <th key={c.key} scope="col" aria-sort={ariaSort(c.key)}>
                  <button type="button" className="sort" onClick={() => sortBy(c.key)}>{c.label}</button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && <tr><td colSpan={columns.length + 1}>No calls in this range.</td></tr>}
            {rows.map((r) => (
              <tr key={`${r.key} ${r.currency}`} data-key={r.key}>
                <th scope="row">
                  {onPick ? <button type="button" className="link" onClick={() => onPick(r)}>{r.name}</button> : r.name}
                </th>
                {columns.map((c) => <td key={c.key}>{cell(c, r.metrics, r.currency)}</td>)}
              </tr>
            ))}
          </tbody>
          <tfoot>
            {totals.map((t) => (
              <tr key={t.currency} className="totals">
                <th scope="row">Total</th>
                {columns.map((c) => <td key={c.key}>{cell(c, t.metrics, t.currency)}</td>)}
              </tr>
            ))}
          </tfoot>
        </table>
      </div>
    </>
  );
}

/** A summary query's table, or its loading state and error. */
function SummaryTable({ query, caption, onPick, csvName }: { query: ReportQuery; caption: string; onPick?: (r: SummaryRow) => void; csvName: string }) {
  const { data, error } = useQuery(summary(query));
  return (
    <section aria-label={caption}>
      <ErrorBanner error={error} />
      {!data && !error && <p>Loading…</p>}
      {data && <ReportTable caption={caption} report={data} onPick={onPick} csvName={csvName} />}
    </section>
  );
}

/** The chart of a range: hourly up to two days, daily beyond. */
export function RangeChart({ query, range, label }: { query: ReportQuery; range: Range; label: string }) {
  const { data, error } = useQuery(timeseries({ ...query, interval: intervalFor(range) }));
  return (
    <>
      <ErrorBanner error={error} />
      {data && <CallsChart series={data} label={label} />}
    </>
  );
}

export function ReportsPage({ title = 'Reports', groups = STAFF_GROUPS }: { title?: string; groups?: [string, string][] }) {
  const { tz, error: tzError } = useTenantZone();
  // The last 7 days: a first look at the demo shows its history, not an empty today.
  const [preset, setPreset] = useState<Preset>('last7');
  const [custom, setCustom] = useState({ from: '', to: '' });
  const [groupBy, setGroupBy] = useState(groups[0][0]);
  const [drill, setDrill] = useState<{ id: string; name: string }>();
  const range = tz ? presetRange(preset, new Date(), tz, custom) : undefined;
  const base: ReportQuery | undefined = range && tz ? { from: range.from, to: range.to, tz } : undefined;
  const stamp = range ? `${range.from.slice(0, 10)}_${range.to.slice(0, 10)}` : '';

  return (
    <section>
      <header className="page-head">
        <h1>{title}</h1>
      </header>
      <form className="filters" aria-label="Report range" onSubmit={(e) => e.preventDefault()}>
        <SelectField label="Range" value={preset} onChange={(v) => setPreset(v as Preset)}
          options={PRESETS.map(([value, label]) => ({ value, label }))} />
        {preset === 'custom' && (
          <>
            <TextField label="From day" type="date" value={custom.from} onChange={(from) => setCustom((c) => ({ ...c, from }))} />
            <TextField label="To day (included)" type="date" value={custom.to} onChange={(to) => setCustom((c) => ({ ...c, to }))} />
          </>
        )}
      </form>
      <ErrorBanner error={tzError} />
      {tz && <p className="hint" data-testid="report-range">
        {range ? <>Days in {tz}: from <time dateTime={range.from}>{new Date(range.from).toLocaleString()}</time> until{' '}
          <time dateTime={range.to}>{new Date(range.to).toLocaleString()}</time> (your browser's time).</> : 'Pick the first and the last day.'}
      </p>}
      {base && range && drill && (
        <>
          <h2>Campaign {drill.name}</h2>
          <button type="button" onClick={() => setDrill(undefined)}>All campaigns</button>
          <RangeChart query={{ ...base, campaignId: drill.id }} range={range} label={`Calls of ${drill.name}`} />
          <SummaryTable key={`buyer ${drill.id}`} query={{ ...base, groupBy: 'buyer', campaignId: drill.id }}
            caption={`${drill.name} by buyer`} csvName={`report-${drill.name}-buyer-${stamp}`} />
          <SummaryTable key={`source ${drill.id}`} query={{ ...base, groupBy: 'utmSource', campaignId: drill.id }}
            caption={`${drill.name} by source`} csvName={`report-${drill.name}-source-${stamp}`} />
        </>
      )}
      {base && range && !drill && (
        <>
          <RangeChart query={base} range={range} label="Calls" />
          <div role="tablist" aria-label="Group by" className="tabs">
            {groups.map(([g, label]) => (
              <button key={g} type="button" role="tab" aria-selected={g === groupBy} onClick={() => setGroupBy(g)}>{label}</button>
            ))}
          </div>
          {/* A new grouping starts with the API's order. */}
          <SummaryTable key={groupBy} query={{ ...base, groupBy }} caption={`By ${groups.find(([g]) => g === groupBy)?.[1].toLowerCase()}`}
            csvName={`report-${groupBy}-${stamp}`}
            onPick={groupBy === 'campaign' ? (r) => setDrill({ id: r.key, name: r.name }) : undefined} />
        </>
      )}
    </section>
  );
}

/** A campaign's or buyer's last 7 days (today included) as a daily chart. */
export function LastWeek({ filter, label }: { filter: ReportQuery; label: string }) {
  const { tz, error } = useTenantZone();
  const range = tz ? presetRange('last7', new Date(), tz) : undefined;
  return (
    <section aria-labelledby="last-week">
      <h2 id="last-week">Last 7 days</h2>
      <ErrorBanner error={error} />
      {range && tz && <RangeChart query={{ ...filter, from: range.from, to: range.to, tz }} range={range} label={label} />}
    </section>
  );
}
