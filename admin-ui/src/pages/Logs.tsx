// Read-only logs, newest first as the API pages them: the audit log, RTB
// auctions and bids, DNI visitor sessions. One page for all: text filters
// named as the API's query parameters, a table, "More" for the next cursor.
import { useState, type FormEvent } from 'react';
import { ErrorBanner, TextField } from '../components';
import { formatMoney } from '../money';
import { usePaged } from '../query';

type Row = Record<string, unknown>;

export interface LogKind {
  route: string;
  title: string;
  path: string;
  /** Query parameters offered as filters: [name, label, hint]. */
  filters: [string, string, string?][];
  columns: { label: string; value: (r: Row) => string }[];
  key: (r: Row) => string;
}

const s = (v: unknown) => (v === null || v === undefined || v === '' ? '—' : Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v));
const when = (v: unknown) => (typeof v === 'string' ? new Date(v).toLocaleString() : '—');
const short = (v: unknown) => (typeof v === 'string' ? v.slice(0, 8) : '—');
const TIME: [string, string, string][] = [
  ['from', 'From', 'RFC 3339, such as 2026-11-01T00:00:00Z'],
  ['to', 'To', 'RFC 3339'],
];

export const LOGS: LogKind[] = [
  {
    route: 'audit', title: 'Audit log', path: '/api/audit',
    filters: [['kind', 'Kind', 'campaign, buyer, user, api-key, tenant, …'], ['resourceId', 'Resource id']],
    columns: [
      { label: 'When', value: (r) => when(r.at) },
      { label: 'Who', value: (r) => s(r.actor) },
      { label: 'Action', value: (r) => s(r.action) },
      { label: 'Kind', value: (r) => s(r.kind) },
      { label: 'Resource', value: (r) => short(r.resourceId) },
      { label: 'Detail', value: (r) => s(r.detail) },
    ],
    key: (r) => String(r.id),
  },
  {
    route: 'rtb-auctions', title: 'RTB auctions', path: '/api/rtb/bid-requests',
    filters: [['campaignId', 'Campaign id'], ['targetId', 'Target id'], ['status', 'Auction status', 'won, no-valid-bid, too-few-bids, no-target'], ...TIME],
    columns: [
      { label: 'Started', value: (r) => when(r.createdAt) },
      { label: 'Caller', value: (r) => s(r.callerId) },
      { label: 'Status', value: (r) => s(r.status) },
      { label: 'Targets asked', value: (r) => String((r.targetsAsked as unknown[] | undefined)?.length ?? 0) },
      { label: 'Valid bids', value: (r) => s(r.validBids) },
      { label: 'Winning bid', value: (r) => (r.winningBid === null || r.winningBid === undefined ? '—' : `${formatMoney(s(r.winningBid))} ${s(r.currency)}`) },
      { label: 'Took', value: (r) => `${s(r.totalMs)} ms` },
      { label: 'Auction id', value: (r) => s(r.id) },
    ],
    key: (r) => String(r.id),
  },
  {
    route: 'rtb-bids', title: 'RTB bids', path: '/api/rtb/bid-responses',
    filters: [['campaignId', 'Campaign id'], ['targetId', 'Target id'], ['status', 'Bid status', 'success, timeout, error, invalid, no-bid, rejected'], ...TIME],
    columns: [
      { label: 'Started', value: (r) => when(r.createdAt) },
      { label: 'Target', value: (r) => short(r.targetId) },
      { label: 'Status', value: (r) => s(r.status) },
      { label: 'Amount', value: (r) => (r.amount === null || r.amount === undefined ? '—' : formatMoney(s(r.amount))) },
      { label: 'Won', value: (r) => (r.won ? 'yes' : 'no') },
      { label: 'Took', value: (r) => `${s(r.responseMs)} ms` },
      { label: 'Reason', value: (r) => s(r.reason) },
      { label: 'Auction id', value: (r) => s(r.requestId) },
    ],
    key: (r) => String(r.id),
  },
  {
    route: 'visits', title: 'Visitor sessions', path: '/api/tracking-sessions',
    filters: [['tagCode', 'Tag code'], ['source', 'Source', 'google, direct, …'], ...TIME],
    columns: [
      { label: 'Started', value: (r) => when(r.startedAt) },
      { label: 'Last seen', value: (r) => when(r.lastSeenAt) },
      { label: 'Tag', value: (r) => s(r.tagCode) },
      { label: 'Number shown', value: (r) => `${s(r.phoneNumber)}${r.exhausted ? ' (pool exhausted)' : ''}` },
      { label: 'Source', value: (r) => s(r.source) },
      { label: 'Medium', value: (r) => s(r.medium) },
      { label: 'Campaign', value: (r) => s(r.campaign) },
      { label: 'Landing page', value: (r) => s(r.landingPage) },
    ],
    key: (r) => String(r.sessionId),
  },
];

export function LogPage({ kind }: { kind: LogKind }) {
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [filters, setFilters] = useState<Record<string, string>>({});
  const { items: rows, hasMore, error, loading, more } = usePaged<Row>(kind.path, filters);

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters(Object.fromEntries(Object.entries(draft).map(([k, v]) => [k, v.trim()]).filter(([, v]) => v)));
  }

  return (
    <section>
      <h1>{kind.title}</h1>
      <form className="filters" onSubmit={apply} aria-label={`${kind.title} filters`}>
        {kind.filters.map(([name, label, hint]) => (
          <TextField key={name} label={label} hint={hint} value={draft[name] ?? ''} onChange={(v) => setDraft((d) => ({ ...d, [name]: v }))} />
        ))}
        <div className="form-actions"><button type="submit">Apply filters</button></div>
      </form>
      <ErrorBanner error={error} />
      {!loading && rows.length === 0 && !error && <p>Nothing yet.</p>}
      {rows.length > 0 && (
        <table>
          <thead>
            <tr>{kind.columns.map((c) => <th key={c.label} scope="col">{c.label}</th>)}</tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={kind.key(r)}>{kind.columns.map((c) => <td key={c.label}>{c.value(r)}</td>)}</tr>
            ))}
          </tbody>
        </table>
      )}
      {loading && <p>Loading…</p>}
      {hasMore && !loading && <button type="button" onClick={more}>More</button>}
    </section>
  );
}
