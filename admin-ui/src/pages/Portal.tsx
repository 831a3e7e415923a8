// A publisher's login: its own calls (the caller masked unless the tenant
// shows publishers whole numbers; its payout, never revenue, profit or
// buyers), its numbers, and its publisher's settings, read-only. The server
// answers only these and only with its own things: these pages show what it
// answers, nothing more.
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { ErrorBanner, SelectField, TextField, opts } from '../components';
import { formatMoney } from '../money';
import { item, list, readCsv, usePaged } from '../query';
import type { InventoryNumber, Publisher, PublisherCall } from '../types';
import { saveFile, toRfc3339 } from './Calls';

/** The pages of a publisher's login, in nav order: [route, title]. */
export const PORTAL_NAV: [string, string][] = [
  ['calls', 'My calls'],
  ['reports', 'My reports'],
  ['numbers', 'My numbers'],
  ['publisher', 'My publisher'],
];

interface PortalFilters { status: string; from: string; to: string }
const empty: PortalFilters = { status: '', from: '', to: '' };

/** The query of a publisher's calls: it filters by status and time only (the server refuses buyer filters). */
export function portalQuery(f: PortalFilters, cursor?: string, limit = 50) {
  return { status: f.status || undefined, from: toRfc3339(f.from), to: toRfc3339(f.to), cursor, limit };
}

export function PortalCallsPage() {
  const [draft, setDraft] = useState<PortalFilters>(empty);
  const [filters, setFilters] = useState<PortalFilters>(empty);
  const { items: calls, hasMore, error, loading, more } = usePaged<PublisherCall>('/api/calls', portalQuery(filters));
  const exporter = useMutation({
    mutationFn: (f: PortalFilters) => readCsv('/api/calls', portalQuery(f, undefined, 500), 200),
    onSuccess: (csv) => saveFile(csv, 'text/csv', `my-calls-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv`),
  });
  const set = (k: keyof PortalFilters) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters({ ...draft });
  }

  return (
    <section>
      <header className="page-head">
        <h1>My calls</h1>
        <button type="button" onClick={() => { if (!exporter.isPending) exporter.mutate(filters); }} disabled={exporter.isPending}>
          {exporter.isPending ? 'Exporting…' : 'Export CSV'}
        </button>
      </header>
      <form className="filters" onSubmit={apply} aria-label="Call filters">
        <SelectField label="Call status" value={draft.status} onChange={set('status')}
          options={[{ value: '', label: 'any' }, ...opts('ringing', 'in-progress', 'completed', 'no-answer', 'rejected', 'blocked')]} />
        <TextField label="From (start time)" type="datetime-local" value={draft.from} onChange={set('from')} />
        <TextField label="To (start time)" type="datetime-local" value={draft.to} onChange={set('to')} />
        <div className="form-actions">
          <button type="submit">Apply filters</button>
          <button type="button" onClick={() => { setDraft(empty); setFilters({ ...empty }); }}>Clear</button>
        </div>
      </form>
      <ErrorBanner error={exporter.error ?? error} />
      {!loading && calls.length === 0 && !error && <p>No calls match.</p>}
      {calls.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Caller</th>
              <th scope="col">Number dialed</th>
              <th scope="col">Campaign</th>
              <th scope="col">Status</th>
              <th scope="col">Duration</th>
              <th scope="col">Converted</th>
              <th scope="col">Payout</th>
            </tr>
          </thead>
          <tbody>
            {calls.map((c) => (
              <tr key={c.id} data-call-id={c.id}>
                <td><time dateTime={c.startedAt}>{new Date(c.startedAt).toLocaleString()}</time></td>
                <td>{c.from}</td>
                <td>{c.to}</td>
                <td>{c.campaignName ?? c.campaignId.slice(0, 8)}</td>
                <td><span className={`status ${c.status}`}>{c.status}</span>{c.rejectReason && <small> ({c.rejectReason})</small>}{c.duplicate && <small> (duplicate)</small>}</td>
                <td>{c.durationSeconds} s</td>
                <td>{c.converted ? 'yes' : 'no'}</td>
                <td>{formatMoney(c.payout)} {c.currency}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {loading && <p>Loading…</p>}
      {hasMore && !loading && <button type="button" onClick={more}>More calls</button>}
    </section>
  );
}

export function PortalNumbersPage() {
  const { data, error } = useQuery(list<InventoryNumber>('/api/numbers'));
  return (
    <section>
      <h1>My numbers</h1>
      <ErrorBanner error={error} />
      {data && data.length === 0 && <p>No numbers carry your traffic yet.</p>}
      {data && data.length > 0 && (
        <table>
          <thead><tr><th scope="col">Number</th><th scope="col">Name</th><th scope="col">Status</th></tr></thead>
          <tbody>
            {data.map((n) => (
              <tr key={n.id}><td>{n.phoneNumber}</td><td>{n.friendlyName ?? ''}</td><td>{n.status}</td></tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const cap = (v: number | null | undefined) => (v === null || v === undefined ? 'none' : String(v));

export function PortalPublisherPage({ publisherId }: { publisherId: string }) {
  const { data: p, error } = useQuery(item<Publisher>('/api/publishers', publisherId));
  return (
    <section>
      <h1>My publisher</h1>
      <ErrorBanner error={error} />
      {p && (
        <dl className="summary" aria-label="Publisher summary">
          <dt>Name</dt><dd>{p.name}</dd>
          <dt>Company</dt><dd>{p.company || '—'}</dd>
          <dt>Contact</dt><dd>{p.contact || '—'}</dd>
          <dt>Status</dt><dd>{p.status}</dd>
          <dt>Sub ID</dt><dd>{p.subId ?? '—'}</dd>
          <dt>Concurrent calls at most</dt><dd>{cap(p.concurrencyLimit)}</dd>
          <dt>Calls a day at most</dt><dd>{cap(p.dailyCap)}</dd>
          <dt>Calls a month at most</dt><dd>{cap(p.monthlyCap)}</dd>
        </dl>
      )}
    </section>
  );
}
