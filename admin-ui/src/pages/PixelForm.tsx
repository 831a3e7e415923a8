// A pixel (a postback or webhook fired on call events, docs/pixels.md) as a
// form: its events, the request it makes (method, URL and body templates
// with tokens, headers, basic auth), which calls fire it (filters, campaigns,
// buyers, fires per call) and its status. A token picker writes a token into
// the URL or the body at the cursor. The password is write-only: empty keeps
// the stored one (the API keeps it for a PUT with the same username).
// "Preview" renders the draft's request for a sample call; "Send test" sends
// the saved pixel's to its receiver now and shows the answer.
import { useEffect, useRef, useState } from 'react';
import { useMutation, useQueries, useQueryClient } from '@tanstack/react-query';
import { api, type FieldError } from '../api';
import { ErrorBanner, Field, FiltersField, FormBanner, RequestView, SelectField, TextField, filtersText, intOrNull, opts, parseFilters, text } from '../components';
import { useForm } from '../form';
import { PIXELS, deliveriesWhere } from '../pixels';
import { item, list } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { EventKind, Named, Pixel, PixelMethod, PixelPreview, TestSend } from '../types';
import { contentTypeOptions } from './TargetForm';

/** Every event a pixel may fire on, with what it means (a Record, so the compiler says when one is missing). */
const EVENTS: Record<EventKind, string> = {
  incoming: 'the call arrived',
  routed: 'a buyer (or RTB winner) was dialed, once per attempt',
  connected: 'a buyer answered',
  completed: 'it ended after an answer',
  converted: 'it converted',
  noConnect: 'every buyer dialed was busy, did not answer or failed',
  rejected: 'it was refused without a buyer',
  blocked: 'the caller is on the blocklist',
  duplicate: "a repeat caller inside the campaign's window",
  recording: 'its recording is ready',
  payout: 'its payout was booked or changed',
  rtbWon: 'an RTB bidder won it',
  finalized: 'nothing more happens to it',
};
const EVENT_NAMES = Object.keys(EVENTS) as EventKind[];

/** The tokens of docs/pixels.md and what each becomes. */
const TOKENS: [string, string][] = [
  ['{event}', "the event's name"],
  ['{callId}', "Switchboard's call id"],
  ['{callSid}', "Twilio's CallSid"],
  ['{callerId}', 'the caller, E.164'],
  ['{callerIdNoPlus}', 'the caller without the +'],
  ['{calledNumber}', 'the tracking number called'],
  ['{campaignId}', 'the campaign'],
  ['{campaignName}', "the campaign's name"],
  ['{buyerId}', 'the buyer (or RTB target) that took the call'],
  ['{buyerName}', "that buyer's name"],
  ['{publisherId}', "the call's publisher"],
  ['{publisherSubId}', "the publisher's sub id"],
  ['{callerState}', "the caller's state (carrier)"],
  ['{callerZip}', "the caller's ZIP (carrier)"],
  ['{status}', "the call's status"],
  ['{durationSeconds}', 'talk time'],
  ['{revenue}', 'decimal, such as 25.00'],
  ['{payout}', 'decimal, such as 4.00'],
  ['{currency}', "the call's currency code"],
  ['{converted}', 'true or false'],
  ['{recordingUrl}', 'the recording, once there is one'],
  ['{callStartTime}', 'RFC 3339, UTC'],
  ['{timestamp}', 'when sent, Unix milliseconds'],
  ['{isoTimestamp}', 'when sent, RFC 3339'],
  ['{utmSource}', 'the visit (DNI)'],
  ['{utmMedium}', 'the visit (DNI)'],
  ['{utmCampaign}', 'the visit (DNI)'],
  ['{gclid}', 'the visit (DNI)'],
  ['{fbclid}', 'the visit (DNI)'],
  ['{landingPage}', 'the visit (DNI)'],
  ['{tag:NAME}', 'any call tag: type its name over NAME'],
];

interface HeaderRow { name: string; value: string }

export interface PixelDraft {
  name: string;
  events: EventKind[];
  method: PixelMethod;
  url: string;
  contentType: string;
  body: string;
  headers: HeaderRow[];
  username: string;
  /** Typed only to change it. */
  password: string;
  filters: string;
  maxFires: string;
  campaignIds: string[];
  buyerIds: string[];
  status: Pixel['status'];
}

export const pixelDraft = (p?: Pixel): PixelDraft => ({
  name: p?.name ?? '',
  events: p?.events ?? [],
  method: p?.method ?? 'GET',
  url: p?.url ?? 'https://',
  contentType: p?.contentType ?? 'application/json',
  body: p?.body ?? '',
  headers: Object.entries(p?.headers ?? {}).map(([name, value]) => ({ name, value })),
  username: p?.basicAuth?.username ?? '',
  password: '',
  filters: filtersText(p?.filters),
  maxFires: text(p?.maxFires ?? 1),
  campaignIds: p?.campaignIds ?? [],
  buyerIds: p?.buyerIds ?? [],
  status: p?.status ?? 'active',
});

/** The pixel to send (as create, replace and preview take it), or what is already wrong. */
export function pixelBody(d: PixelDraft): { body?: Record<string, unknown>; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const headers: Record<string, string> = {};
  d.headers.forEach((h, i) => {
    const name = h.name.trim();
    if (!name && !h.value) return;
    if (!name) errors.push({ field: `headers[${i}]`, message: 'needs a name' });
    else if (name in headers) errors.push({ field: `headers[${i}]`, message: `${name} is there twice` });
    else headers[name] = h.value;
  });
  const maxFires = intOrNull(d.maxFires);
  if (maxFires === null || Number.isNaN(maxFires)) errors.push({ field: 'maxFires', message: 'must be a whole number' });
  const username = d.username.trim();
  const body = {
    name: d.name.trim(),
    events: EVENT_NAMES.filter((e) => d.events.includes(e)),
    method: d.method,
    url: d.url.trim(),
    contentType: d.contentType,
    // A GET sends no body; an empty one sends the call as JSON.
    body: d.method === 'GET' || !d.body ? null : d.body,
    headers,
    basicAuth: username ? { username, ...(d.password ? { password: d.password } : {}) } : null,
    filters: parseFilters(d.filters),
    maxFires,
    campaignIds: d.campaignIds,
    buyerIds: d.buyerIds,
    status: d.status,
  };
  return errors.length ? { errors } : { body, errors };
}

/** Checkboxes over a tenant's campaigns or buyers; ids chosen that are no longer there stay, named by id. */
function Checklist(props: { legend: string; hint: string; items: Named[]; chosen: string[]; onChange: (ids: string[]) => void; error?: string }) {
  const gone = props.chosen.filter((id) => !props.items.some((i) => i.id === id)).map((id) => ({ id, name: `(not found) ${id}` }));
  return (
    <fieldset>
      <legend>{props.legend}</legend>
      <p className="hint">{props.hint}</p>
      {props.error && <p className="field-error" role="alert">{props.error}</p>}
      <ul className="checklist">
        {[...props.items, ...gone].map((i) => (
          <li key={i.id}>
            <label>
              <input type="checkbox" checked={props.chosen.includes(i.id)}
                onChange={(e) => props.onChange(e.target.checked ? [...props.chosen, i.id] : props.chosen.filter((x) => x !== i.id))} />
              {' '}{i.name}
            </label>
          </li>
        ))}
      </ul>
    </fieldset>
  );
}

type Template = 'url' | 'body';

/** What a test send got: the receiver's status, body and time, or why there was no answer. */
function TestResult({ result }: { result: TestSend }) {
  return (
    <div className="detail" role="region" aria-label="Test result">
      <h3>Test send</h3>
      {result.responseStatus !== null
        ? <p>The receiver answered <strong data-testid="test-status">{result.responseStatus}</strong>{result.durationMs !== null && ` in ${result.durationMs} ms`}.</p>
        : <p className="field-error">No answer: {result.error}</p>}
      {result.responseBody && <pre className="wrap">{result.responseBody}</pre>}
      <RequestView request={result.request} label="Test request as sent" />
    </div>
  );
}

/** Preview (the draft's request for a sample call) and, for a saved pixel, Send test. */
function Trial({ form, pixel, canSend }: { form: { checked: () => Record<string, unknown> | undefined; showError: (e: unknown) => void }; pixel?: Pixel; canSend: boolean }) {
  const preview = useMutation({
    mutationFn: (body: Record<string, unknown>) => api.post<PixelPreview>(`${PIXELS}/preview`, body),
    // A refusal is the form's: its 422 on the fields, as a save's.
    onError: form.showError,
  });
  const test = useMutation({ mutationFn: (id: string) => api.post<TestSend>(`${PIXELS}/${id}/test`, undefined) });
  // A click before the next render sees no isPending yet: one request at a time (its error is in the mutation's state).
  const inFlight = useRef(false);
  const once = (run: () => Promise<unknown>) => {
    if (inFlight.current) return;
    inFlight.current = true;
    run().catch(() => {}).finally(() => { inFlight.current = false; });
  };

  function runPreview() {
    once(async () => {
      const body = form.checked();
      if (body) await preview.mutateAsync(body);
    });
  }

  return (
    <section className="trial" aria-label="Preview and test">
      <h2>Preview and test</h2>
      <p className="hint">
        For a sample call: a converted 90 s call from +15551230000 paying 25.00 USD (to the first campaign checked).
        {pixel && ' Send test sends the saved pixel (save changes first), signed, and keeps it out of the log.'}
      </p>
      <div className="form-actions">
        <button type="button" onClick={runPreview} disabled={preview.isPending}>Preview</button>
        {pixel?.id && canSend && (
          <button type="button" onClick={() => once(() => test.mutateAsync(pixel.id))} disabled={test.isPending}>
            {test.isPending ? 'Sending…' : 'Send test'}
          </button>
        )}
      </div>
      {preview.data && (
        <>
          <h3>The request for the sample call's {preview.data.event} event</h3>
          <RequestView request={preview.data.request} label={`Preview: the ${preview.data.event} request`} />
        </>
      )}
      <ErrorBanner error={test.error} />
      {test.data && <TestResult result={test.data} />}
    </section>
  );
}

export function PixelForm(props: { pixel?: Pixel; campaigns: Named[]; buyers: Named[] }) {
  const { pixel } = props;
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => pixelDraft(pixel),
    version: pixel?.version,
    check: pixelBody,
    save: (body, version) => (pixel ? api.put<Pixel>(`${PIXELS}/${pixel.id}`, body, version) : api.post<Pixel>(PIXELS, body)),
    invalidates: [PIXELS],
    onSaved: () => navigate('pixels'),
    reload: pixel && (async () => {
      const current = await client.fetchQuery(item<Pixel>(PIXELS, pixel.id));
      return { draft: pixelDraft(current), version: current.version };
    }),
  });
  const { draft, setDraft, set, err, errUnder } = f;
  const hasBody = draft.method !== 'GET';

  // The token picker writes into the template last focused (the URL when there is no body), at its cursor.
  const [focused, setFocused] = useState<Template>('url');
  const into: Template = hasBody ? focused : 'url';
  const inputs = useRef<Partial<Record<Template, HTMLInputElement | HTMLTextAreaElement | null>>>({});
  const [caret, setCaret] = useState<{ into: Template; at: number; end: number }>();
  useEffect(() => {
    if (!caret) return;
    const el = inputs.current[caret.into];
    el?.focus();
    el?.setSelectionRange(caret.at, caret.end);
  }, [caret]);
  function insert(token: string) {
    const value = draft[into];
    const el = inputs.current[into];
    const start = el?.selectionStart ?? value.length;
    const end = el?.selectionEnd ?? start;
    set(into)(value.slice(0, start) + token + value.slice(end));
    // {tag:NAME}: NAME is selected, to be typed over.
    const name = token.indexOf('NAME');
    setCaret(name < 0 ? { into, at: start + token.length, end: start + token.length } : { into, at: start + name, end: start + name + 4 });
  }

  const setHeader = (i: number, patch: Partial<HeaderRow>) =>
    setDraft((d) => ({ ...d, headers: d.headers.map((h, j) => (j === i ? { ...h, ...patch } : h)) }));
  // A header's errors: the browser's for its row, the API's for its name.
  const headerErr = (i: number, h: HeaderRow) => err(`headers[${i}]`) ?? (h.name.trim() ? err(`headers.${h.name.trim()}`) : undefined);
  const toggleEvent = (e: EventKind, on: boolean) => setDraft((d) => ({ ...d, events: on ? [...d.events, e] : d.events.filter((x) => x !== e) }));

  return (
    <form onSubmit={f.submit} noValidate aria-label={pixel ? `Edit pixel ${pixel.name}` : 'New pixel'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <fieldset>
        <legend>Pixel</legend>
        <TextField label="Name" value={draft.name} onChange={set('name')} error={err('name')} required />
        <SelectField label="Status" value={draft.status} onChange={(v) => set('status')(v as Pixel['status'])} options={opts('active', 'paused')} error={err('status')} />
      </fieldset>
      <fieldset>
        <legend>Events</legend>
        <p className="hint">It fires on each checked event of a call (one for a conversion postback, several for a CRM webhook).</p>
        {errUnder('events') && <p className="field-error" role="alert">{errUnder('events')}</p>}
        <ul className="checklist events">
          {EVENT_NAMES.map((e) => (
            <li key={e}>
              <label>
                <input type="checkbox" checked={draft.events.includes(e)} onChange={(x) => toggleEvent(e, x.target.checked)} />
                {' '}<code>{e}</code> <small className="hint">{EVENTS[e]}</small>
              </label>
            </li>
          ))}
        </ul>
      </fieldset>
      <fieldset>
        <legend>Request</legend>
        <SelectField label="Method" value={draft.method} onChange={(v) => set('method')(v as PixelMethod)} options={opts('GET', 'POST', 'PUT', 'PATCH')} error={err('method')} />
        <Field label="URL" error={errUnder('url')} hint="http(s)://… with {tokens}; each value is URL-encoded">
          {(a) => (
            <input {...a} type="url" value={draft.url} ref={(el) => { inputs.current.url = el; }} onFocus={() => setFocused('url')}
              onChange={(e) => set('url')(e.target.value)} />
          )}
        </Field>
        {hasBody && (
          <>
            <SelectField label="Content type" value={draft.contentType} onChange={set('contentType')} options={contentTypeOptions(draft.contentType)}
              error={err('contentType')} hint="Says how token values are escaped in the body: JSON, form or XML" />
            <Field label="Body" error={errUnder('body')} hint="With {tokens}, at most 64 KiB; empty: the call record as JSON, plus event">
              {(a) => (
                <textarea {...a} rows={5} className="json" value={draft.body} ref={(el) => { inputs.current.body = el; }} onFocus={() => setFocused('body')}
                  onChange={(e) => set('body')(e.target.value)} />
              )}
            </Field>
          </>
        )}
        <section className="tokens" aria-label="Tokens">
          <h3>Tokens</h3>
          <p className="hint">Inserted into the <strong>{into === 'url' ? 'URL' : 'body'}</strong> at the cursor (the template last edited).</p>
          <ul>
            {TOKENS.map(([t, what]) => (
              <li key={t}>
                <button type="button" className="link" aria-label={`Insert ${t}`} onClick={() => insert(t)}><code>{t}</code></button>{' '}
                <small className="hint">{what}</small>
              </li>
            ))}
          </ul>
        </section>
      </fieldset>
      <fieldset>
        <legend>Headers</legend>
        <p className="hint">Values may hold tokens. Switchboard sets Switchboard-*, Host, Content-Length, Content-Type and Authorization itself.</p>
        {err('headers') && <p className="field-error" role="alert">{err('headers')}</p>}
        {draft.headers.map((h, i) => (
          <div key={i} className="rule" role="group" aria-label={`Header ${i + 1}`}>
            <TextField label={`Header ${i + 1} name`} value={h.name} onChange={(v) => setHeader(i, { name: v })} />
            <TextField label={`Header ${i + 1} value`} value={h.value} onChange={(v) => setHeader(i, { value: v })} error={headerErr(i, h)} />
            <button type="button" onClick={() => setDraft((d) => ({ ...d, headers: d.headers.filter((_, j) => j !== i) }))}>Remove header {i + 1}</button>
          </div>
        ))}
        <button type="button" onClick={() => setDraft((d) => ({ ...d, headers: [...d.headers, { name: '', value: '' }] }))}>Add header</button>
      </fieldset>
      <fieldset>
        <legend>Basic authentication</legend>
        <TextField label="User name" value={draft.username} onChange={set('username')} error={err('basicAuth.username')} autoComplete="off"
          hint="Empty: no authentication" />
        <TextField label="Password" type="password" value={draft.password} onChange={set('password')} error={err('basicAuth.password')} autoComplete="new-password"
          hint={pixel?.basicAuth ? 'Stored (never shown); empty keeps it' : undefined} />
      </fieldset>
      <fieldset>
        <legend>Which calls fire it</legend>
        <FiltersField value={draft.filters} onChange={set('filters')} error={errUnder('filters', true)} />
        <TextField label="Most fires per call" value={draft.maxFires} onChange={set('maxFires')} error={err('maxFires')} inputMode="numeric"
          hint="Deliveries per call over all its events, 1 to 100" />
      </fieldset>
      <Checklist legend="Campaigns" hint="None checked: every campaign's calls." items={props.campaigns} chosen={draft.campaignIds}
        onChange={set('campaignIds')} error={errUnder('campaignIds', true)} />
      <Checklist legend="Buyers" hint="None checked: whoever took the call. With campaigns checked too, a call must match both." items={props.buyers}
        chosen={draft.buyerIds} onChange={set('buyerIds')} error={errUnder('buyerIds', true)} />
      <Trial form={f} pixel={pixel} canSend={canEdit} />
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{pixel ? 'Save pixel' : 'Create pixel'}</button>
        <a href={href('pixels')}>Cancel</a>
      </div>
    </form>
  );
}

export function PixelPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const [pixel, campaigns, buyers, targets] = useQueries({
    queries: [
      { ...item<Pixel>(PIXELS, id), enabled: !isNew },
      list<Named>('/api/campaigns'),
      list<Named>('/api/buyers'),
      list<Named>('/api/rtb/targets'),
    ],
  });
  const error = pixel.error ?? campaigns.error ?? buyers.error ?? targets.error;
  // The form starts from the version read now, not a cached one.
  const ready = (isNew || (pixel.isFetchedAfterMount && !!pixel.data)) && !!campaigns.data && !!buyers.data && !!targets.data;
  const p = isNew ? undefined : (pixel.data as Pixel | undefined);
  // An RTB target that took a call counts as its buyer.
  const takers = [...(buyers.data ?? []), ...(targets.data ?? []).map((t) => ({ id: t.id, name: `${t.name} (RTB target)` }))];
  return (
    <section>
      <header className="page-head">
        <h1>{isNew ? 'New pixel' : `Pixel ${p?.name ?? ''}`}</h1>
        {!isNew && <a href={deliveriesWhere({ pixelId: id })}>Its deliveries</a>}
      </header>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <PixelForm key={id} pixel={p} campaigns={campaigns.data as Named[]} buyers={takers} />}
    </section>
  );
}
