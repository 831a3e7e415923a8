// Calls: newest first, filtered as the API filters (campaign, buyer,
// publisher, status, time range, caller), paged by cursor, exported as CSV;
// each with its revenue, the payout to its publisher, and the profit.
import { Fragment, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from '@tanstack/react-query';
import { withQuery } from '../api';
import { CheckField, ErrorBanner, SelectField, TextField, opts } from '../components';
import { minorToDecimal } from '../money';
import { list, readCsv, usePaged } from '../query';
import type { Buyer, CallRecord, Campaign, Named } from '../types';
import { BlockCaller } from './Blocklist';

export interface CallFilters {
  campaignId: string;
  buyerId: string;
  publisherId: string;
  status: string;
  from: string;
  to: string;
  caller: string;
}

const empty: CallFilters = { campaignId: '', buyerId: '', publisherId: '', status: '', from: '', to: '', caller: '' };

/** `datetime-local` text (the browser's zone) as RFC 3339 UTC; empty stays empty. */
export function toRfc3339(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The query string parameters of a filter. */
export function callQuery(f: CallFilters, cursor?: string, limit = 50) {
  return {
    campaignId: f.campaignId || undefined,
    buyerId: f.buyerId || undefined,
    publisherId: f.publisherId || undefined,
    status: f.status || undefined,
    from: toRfc3339(f.from),
    to: toRfc3339(f.to),
    caller: f.caller.trim() || undefined,
    cursor,
    limit,
  };
}

/** Every call matching `f` as one CSV text (every page, the header line once). */
export const exportCsv = (f: CallFilters, maxPages = 200): Promise<string> => readCsv('/api/calls', callQuery(f, undefined, 500), maxPages);

/** Saves text as a file in the browser's downloads. */
export function saveFile(text: string, type: string, name: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function CallsPage() {
  const campaigns = useQuery(list<Campaign>('/api/campaigns'));
  const buyers = useQuery(list<Buyer>('/api/buyers'));
  const publishers = useQuery(list<Named>('/api/publishers'));
  const [draft, setDraft] = useState<CallFilters>(empty);
  const [filters, setFilters] = useState<CallFilters>(empty);
  const [live, setLive] = useState(false);
  // Watching: read again every 10 s.
  const { items: calls, hasMore, error, loading, more } = usePaged<CallRecord>('/api/calls', callQuery(filters), { refetchInterval: live ? 10000 : false });
  const exporter = useMutation({
    mutationFn: (f: CallFilters) => exportCsv(f),
    onSuccess: (csv) => saveFile(csv, 'text/csv', `calls-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.csv`),
  });
  const [open, setOpen] = useState<string>();

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters({ ...draft });
  }

  const campaignName = (id: string) => campaigns.data?.find((c) => c.id === id)?.name ?? id.slice(0, 8);
  const buyerName = (id: string | null) => (id ? buyers.data?.find((b) => b.id === id)?.name ?? id.slice(0, 8) : '—');
  const publisherName = (id: string | null) => (id ? publishers.data?.find((p) => p.id === id)?.name ?? id.slice(0, 8) : '—');
  const set = (k: keyof CallFilters) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));

  return (
    <section>
      <header className="page-head">
        <h1>Calls</h1>
        <button type="button" onClick={() => { if (!exporter.isPending) exporter.mutate(filters); }} disabled={exporter.isPending}>
          {exporter.isPending ? 'Exporting…' : 'Export CSV'}
        </button>
      </header>
      <form className="filters" onSubmit={apply} aria-label="Call filters">
        <SelectField label="Campaign" value={draft.campaignId} onChange={set('campaignId')}
          options={[{ value: '', label: 'any' }, ...(campaigns.data ?? []).map((c) => ({ value: c.id, label: c.name }))]} />
        <SelectField label="Buyer" value={draft.buyerId} onChange={set('buyerId')}
          options={[{ value: '', label: 'any' }, ...(buyers.data ?? []).map((b) => ({ value: b.id, label: b.name }))]} />
        <SelectField label="Publisher" value={draft.publisherId} onChange={set('publisherId')}
          options={[{ value: '', label: 'any' }, ...(publishers.data ?? []).map((p) => ({ value: p.id, label: p.name }))]} />
        <SelectField label="Call status" value={draft.status} onChange={set('status')}
          options={[{ value: '', label: 'any' }, ...opts('ringing', 'in-progress', 'completed', 'no-answer', 'rejected', 'blocked')]} />
        <TextField label="From (start time)" type="datetime-local" value={draft.from} onChange={set('from')} />
        <TextField label="To (start time)" type="datetime-local" value={draft.to} onChange={set('to')} />
        <TextField label="Caller" type="tel" value={draft.caller} onChange={set('caller')} placeholder="+15551230000" />
        <div className="form-actions">
          <button type="submit">Apply filters</button>
          <button type="button" onClick={() => { setDraft(empty); setFilters({ ...empty }); }}>Clear</button>
        </div>
        <CheckField label="Refresh every 10 seconds" checked={live} onChange={setLive} />
      </form>
      <ErrorBanner error={exporter.error ?? error ?? campaigns.error ?? buyers.error ?? publishers.error} />
      {!loading && calls.length === 0 && !error && <p>No calls match.</p>}
      {calls.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Caller</th>
              <th scope="col">Number dialed</th>
              <th scope="col">Campaign</th>
              <th scope="col">Buyer</th>
              <th scope="col">Publisher</th>
              <th scope="col">Status</th>
              <th scope="col">Duration</th>
              <th scope="col">Converted</th>
              <th scope="col">Revenue</th>
              <th scope="col">Payout</th>
              <th scope="col">Profit</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {calls.map((c) => (
              <Fragment key={c.id}>
              <tr data-call-id={c.id}>
                <td><time dateTime={c.startedAt}>{new Date(c.startedAt).toLocaleString()}</time></td>
                <td>{c.from}</td>
                <td>{c.to}</td>
                <td>{campaignName(c.campaignId)}</td>
                <td>{buyerName(c.buyerId)}</td>
                <td>{publisherName(c.publisherId)}</td>
                <td><span className={`status ${c.status}`}>{c.status}</span>{c.rejectReason && <small> ({c.rejectReason})</small>}{c.duplicate && <small> (duplicate)</small>}</td>
                <td>{c.durationSeconds ?? 0} s</td>
                <td>{c.converted ? 'yes' : 'no'}</td>
                <td>{minorToDecimal(c.revenueMinor ?? 0)} {c.currency ?? ''}</td>
                <td>{minorToDecimal(c.payoutMinor ?? 0)} {c.currency ?? ''}</td>
                <td>{minorToDecimal(c.profitMinor ?? 0)} {c.currency ?? ''}</td>
                <td>
                  <button type="button" aria-expanded={open === c.id} aria-controls={`call-${c.id}`}
                    onClick={() => setOpen(open === c.id ? undefined : c.id)}>{open === c.id ? 'Hide' : 'Details'}</button>
                </td>
              </tr>
              {open === c.id && (
                <tr id={`call-${c.id}`} className="call-detail">
                  <td colSpan={13}><CallDetail call={c} buyerName={buyerName} /></td>
                </tr>
              )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      {loading && <p>Loading…</p>}
      {hasMore && !loading && <button type="button" onClick={more}>More calls</button>}
      <p className="hint">
        API: <code>{withQuery('/api/calls', callQuery(filters))}</code>
      </p>
    </section>
  );
}

/** What happened to one call: every buyer dialed or passed over, its tags, and the web visit it came from. */
function CallDetail({ call, buyerName }: { call: CallRecord; buyerName: (id: string | null) => string }) {
  const a = call.attribution;
  return (
    <div>
      <p>
        Call <code>{call.id}</code>, Twilio <code>{call.callSid}</code>
        {call.endedAt && <> — ended {new Date(call.endedAt).toLocaleString()}</>}
        {call.recordingUrl && <> — <a href={call.recordingUrl}>recording</a></>}
        {call.duplicate && <> — a repeat caller inside the campaign's duplicate window</>}
      </p>
      {call.status === 'blocked' && <p>Refused: the caller is on the blocklist.</p>}
      <BlockCaller call={call} />
      {(call.attempts ?? []).length === 0 ? (
        <p>No buyer was dialed{call.rejectReason ? ` (${call.rejectReason})` : call.status === 'blocked' ? ' (blocked)' : ''}.</p>
      ) : (
        <table>
          <caption>Buyers dialed, in order</caption>
          <thead>
            <tr><th scope="col">Buyer</th><th scope="col">Number</th><th scope="col">Started</th><th scope="col">Outcome</th><th scope="col">Talk time</th></tr>
          </thead>
          <tbody>
            {(call.attempts ?? []).map((t, i) => (
              <tr key={i}>
                <td>{buyerName(t.buyerId)}</td>
                <td>{t.number}</td>
                <td>{new Date(t.startedAt).toLocaleString()}</td>
                <td>{t.outcome}</td>
                <td>{t.durationSeconds} s</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {(call.skipped ?? []).length > 0 && (
        <p>
          Passed over: {(call.skipped ?? []).map((k) => `${buyerName(k.buyerId)} (${k.reason})`).join(', ')}
        </p>
      )}
      {Object.keys(call.tags ?? {}).length > 0 && (
        <dl className="tags" aria-label="Call tags">
          {Object.entries(call.tags ?? {}).map(([k, v]) => (
            <Fragment key={k}><dt>{k}</dt><dd>{v}</dd></Fragment>
          ))}
        </dl>
      )}
      {(call.adjustments ?? []).length > 0 && (
        <table>
          <caption>Adjustments after the call</caption>
          <thead>
            <tr><th scope="col">When</th><th scope="col">By</th><th scope="col">Reason</th><th scope="col">Converted</th><th scope="col">Revenue</th><th scope="col">Payout</th></tr>
          </thead>
          <tbody>
            {(call.adjustments ?? []).map((j) => (
              <tr key={j.id}>
                <td>{new Date(j.at).toLocaleString()}</td>
                <td>{j.by}</td>
                <td>{j.reason}</td>
                <td>{j.converted === undefined || j.converted === null ? '—' : j.converted ? 'yes' : 'no'}</td>
                <td>{j.revenueMinor === undefined || j.revenueMinor === null ? '—' : `${minorToDecimal(j.revenueMinor)} ${call.currency ?? ''}`}</td>
                <td>{j.payoutMinor === undefined || j.payoutMinor === null ? '—' : `${minorToDecimal(j.payoutMinor)} ${call.currency ?? ''}`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {a && (
        <p>
          Web visit: source {a.source ?? '—'}, medium {a.medium ?? '—'}, campaign {a.campaign ?? '—'}
          {a.landingPage && <>, landing page {a.landingPage}</>}
        </p>
      )}
    </div>
  );
}
