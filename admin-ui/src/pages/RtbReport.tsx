// The RTB targets' figures (`/api/reports/rtb?groupBy=rtbTarget`): how each
// bidder answered the bid requests of a range of days in the tenant's zone.
import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api';
import { ErrorBanner, SelectField } from '../components';
import { minorToDecimal } from '../money';
import { PRESETS, presetRange, useTenantZone, type Preset } from '../reports';
import type { RtbReport, RtbRow } from '../types';

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v} ms`);

/** The columns: [label, the cell's text]. */
const COLUMNS: [string, (m: RtbRow['metrics'], currency: string) => string][] = [
  ['Bid requests', (m) => String(m.bidRequests)],
  ['Valid bids', (m) => String(m.validBids)],
  ['Wins', (m) => String(m.wins)],
  ['Timeouts', (m) => String(m.timeouts)],
  ['Errors', (m) => String(m.errors)],
  ['Response p50', (m) => ms(m.responseMsP50)],
  ['Response p95', (m) => ms(m.responseMsP95)],
  ['Win rate', (m) => `${(m.winRate * 100).toFixed(1)}%`],
  ['Average winning bid', (m, c) => `${minorToDecimal(m.averageWinningBidMinor)} ${c}`],
  ['Highest winning bid', (m, c) => `${minorToDecimal(m.maxWinningBidMinor)} ${c}`],
];

export function RtbTargetReport() {
  const { tz, error: tzError } = useTenantZone();
  const [preset, setPreset] = useState<Preset>('last7');
  const range = tz ? presetRange(preset, new Date(), tz) : undefined;
  const query = { groupBy: 'rtbTarget', from: range?.from, to: range?.to, tz };
  const { data, error } = useQuery({
    queryKey: ['/api/reports/rtb', query],
    queryFn: () => api.get<RtbReport>('/api/reports/rtb', query),
    enabled: !!range,
  });
  return (
    <section aria-labelledby="rtb-report">
      <header className="page-head">
        <h2 id="rtb-report">Bids by target</h2>
        <SelectField label="Range" value={preset} onChange={(v) => setPreset(v as Preset)}
          options={PRESETS.filter(([p]) => p !== 'custom').map(([value, label]) => ({ value, label }))} />
      </header>
      <ErrorBanner error={tzError ?? error} />
      {!data && !error && <p>Loading…</p>}
      {data && data.rows.length === 0 && <p>No bid requests in this range.</p>}
      {data && data.rows.length > 0 && (
        <div className="table-scroll">
          <table className="report">
            <thead>
              <tr><th scope="col">Target</th>{COLUMNS.map(([label]) => <th key={label} scope="col">{label}</th>)}</tr>
            </thead>
            <tbody>
              {data.rows.map((r) => (
                <tr key={`${r.key} ${r.currency}`}>
                  <th scope="row">{r.name}</th>
                  {COLUMNS.map(([label, f]) => <td key={label}>{f(r.metrics, r.currency)}</td>)}
                </tr>
              ))}
            </tbody>
            <tfoot>
              {data.totals.map((t) => (
                <tr key={t.currency} className="totals">
                  <th scope="row">Total</th>
                  {COLUMNS.map(([label, f]) => <td key={label}>{f(t.metrics, t.currency)}</td>)}
                </tr>
              ))}
            </tfoot>
          </table>
        </div>
      )}
    </section>
  );
}
