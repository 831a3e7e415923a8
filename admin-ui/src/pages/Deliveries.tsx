// The pixels' delivery log (docs/pixels.md, "The delivery log"): newest
// first, filtered by pixel, state and call, a page at a time; one delivery's
// request as sent (credentials masked), its last answer or error, and
// "Resend" (same delivery id, a new round of attempts).
import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api';
import { ErrorBanner, RequestView, SelectField, TextField, opts } from '../components';
import { DELIVERIES, PIXELS, deliveriesWhere } from '../pixels';
import { item, list, useAction, usePaged } from '../query';
import { useCan } from '../role';
import { href } from '../route';
import type { Delivery, DeliveryState, Pixel } from '../types';

const STATES: DeliveryState[] = ['pending', 'delivered', 'retrying', 'failed', 'dead'];

export interface DeliveryFilters { pixelId: string; state: string; callId: string }

/** The query string of a filter (empty ones left out). */
export const deliveryQuery = (f: DeliveryFilters) => ({
  pixelId: f.pixelId || undefined,
  state: f.state || undefined,
  callId: f.callId.trim() || undefined,
});

/** The filters a link opens the log with: `#/pixels/deliveries?pixelId=ID`. */
function linkedFilters(): DeliveryFilters {
  const q = new URLSearchParams(window.location.hash.split('?')[1] ?? '');
  return { pixelId: q.get('pixelId') ?? '', state: q.get('state') ?? '', callId: q.get('callId') ?? '' };
}

/** A time, or a dash. */
const When = ({ at }: { at?: string | null }) => (at ? <time dateTime={at}>{new Date(at).toLocaleString()}</time> : <>—</>);

/** How long an attempt took. */
const took = (ms?: number | null) => (ms === null || ms === undefined ? '—' : `${ms} ms`);

/** A pixel's name by id (a deleted pixel's deliveries stay: then its id). */
function usePixelName() {
  const pixels = useQuery(list<Pixel>(PIXELS));
  return { pixels, name: (id: string) => pixels.data?.find((p) => p.id === id)?.name ?? id.slice(0, 8) };
}

export function DeliveriesPage() {
  const { pixels, name } = usePixelName();
  const [draft, setDraft] = useState(linkedFilters);
  const [filters, setFilters] = useState(draft);
  const { items, hasMore, error, loading, more, reload } = usePaged<Delivery>(DELIVERIES, deliveryQuery(filters));
  const set = (k: keyof DeliveryFilters) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));

  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters({ ...draft });
  }

  return (
    <section>
      <header className="page-head">
        <h1>Deliveries</h1>
        <a href={href('pixels')}>Pixels</a>
        <button type="button" onClick={reload} disabled={loading}>Refresh</button>
      </header>
      <form className="filters" onSubmit={apply} aria-label="Delivery filters">
        <SelectField label="Pixel" value={draft.pixelId} onChange={set('pixelId')}
          options={[{ value: '', label: 'any' }, ...(pixels.data ?? []).map((p) => ({ value: p.id, label: p.name }))]} />
        <SelectField label="State" value={draft.state} onChange={set('state')} options={[{ value: '', label: 'any' }, ...opts(...STATES)]} />
        <TextField label="Call id" value={draft.callId} onChange={set('callId')} placeholder="a call's id" />
        <div className="form-actions"><button type="submit">Apply filters</button></div>
      </form>
      <ErrorBanner error={error ?? pixels.error} />
      {!loading && !hasMore && items.length === 0 && !error && <p>No deliveries match.</p>}
      {items.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Pixel</th>
              <th scope="col">Event</th>
              <th scope="col">State</th>
              <th scope="col">Attempt</th>
              <th scope="col">Response</th>
              <th scope="col">Took</th>
              <th scope="col">Next attempt</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {items.map((d) => (
              <tr key={d.id}>
                <td><When at={d.createdAt} /></td>
                <td>{name(d.pixelId)}</td>
                <td>{d.event}</td>
                <td><span className={`status ${d.state}`}>{d.state}</span></td>
                <td>{d.attempt}</td>
                <td>{d.responseStatus ?? (d.error ? 'no answer' : '—')}</td>
                <td>{took(d.durationMs)}</td>
                <td><When at={d.nextAttemptAt} /></td>
                <td><a href={href('pixels', 'deliveries', d.id)}>Details</a></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {loading && <p>Loading…</p>}
      {/* A selective filter may answer a short (even empty) page with more after it. */}
      {hasMore && !loading && <button type="button" onClick={more}>Load more</button>}
    </section>
  );
}

export function DeliveryPage({ id }: { id: string }) {
  const canResend = useCan('manager');
  const { data: d, error } = useQuery(item<Delivery>(DELIVERIES, id));
  const { name } = usePixelName();
  const [resent, setResent] = useState(false);
  const resend = useAction(() => api.post<Delivery>(`${DELIVERIES}/${id}/resend`, undefined), [DELIVERIES]);

  async function again() {
    setResent(false);
    setResent(await resend.run(undefined));
  }

  return (
    <section>
      <header className="page-head">
        <h1>Delivery</h1>
        <a href={href('pixels', 'deliveries')}>Delivery log</a>
        {canResend && d && <button type="button" onClick={() => void again()} disabled={resend.busy}>Resend</button>}
      </header>
      <ErrorBanner error={error ?? resend.error} />
      {resent && <p className="banner success" role="status">Sent again with the same delivery id: its new attempt shows here.</p>}
      {!d && !error && <p>Loading…</p>}
      {d && (
        <>
          <table className="facts">
            <tbody>
              <tr><th scope="row">Delivery id</th><td><code data-testid="delivery-id">{d.id}</code> <small className="hint">(Switchboard-Delivery-Id)</small></td></tr>
              <tr><th scope="row">Pixel</th><td><a href={href('pixels', d.pixelId)}>{name(d.pixelId)}</a></td></tr>
              <tr><th scope="row">Call</th><td><code>{d.callId}</code> <a href={deliveriesWhere({ callId: d.callId })}>its deliveries</a></td></tr>
              <tr><th scope="row">Event</th><td>{d.event}</td></tr>
              <tr><th scope="row">State</th><td><span className={`status ${d.state}`}>{d.state}</span></td></tr>
              <tr><th scope="row">Attempts</th><td>{d.attempt}</td></tr>
              <tr><th scope="row">Made</th><td><When at={d.createdAt} /></td></tr>
              <tr><th scope="row">Last change</th><td><When at={d.updatedAt} /></td></tr>
              <tr><th scope="row">Next attempt</th><td><When at={d.nextAttemptAt} /></td></tr>
              <tr><th scope="row">Took</th><td>{took(d.durationMs)}</td></tr>
            </tbody>
          </table>
          <h2>Request as sent</h2>
          <p className="hint">Basic auth masked; the signature headers are added as it is sent.</p>
          <RequestView request={d.request} label="Request as sent" />
          <h2>Response</h2>
          <div className="detail" role="region" aria-label="Response">
            {d.responseStatus !== null && d.responseStatus !== undefined && <p>Status <strong data-testid="response-status">{d.responseStatus}</strong></p>}
            {d.error && <p className="field-error">{d.error}</p>}
            {d.responseBody ? <pre className="wrap">{d.responseBody}</pre> : !d.error && <p className="hint">{d.responseStatus === null || d.responseStatus === undefined ? 'No answer yet.' : 'An empty body.'}</p>}
          </div>
        </>
      )}
    </section>
  );
}
