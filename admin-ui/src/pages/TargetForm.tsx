// An RTB target (an external bidder) as a form: where bid requests go and
// how, how its answers are read, its caps and bid range. An update replaces
// the whole target, so the form sends the loaded target with its fields laid
// over (the schedule and geography, not on the form, are kept as they are).
// Tag filters are a line each, as on the buyer form.
// Credentials are write-only: left empty, the stored ones are kept.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type FieldError } from '../api';
import { ErrorBanner, Field, FiltersField, FormBanner, SelectField, TextField, filtersText, intOrNull, opts, parseFilters, text, type TagFilter } from '../components';
import { useForm } from '../form';
import { formatMoney, isAmount } from '../money';
import { item } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';

type Target = Record<string, unknown> & { id?: string; version?: number; authConfigured?: boolean };

const TARGETS = '/api/rtb/targets';

/** The bid request's `Content-Type` choices, as the API stores them. */
export const CONTENT_TYPES = ['application/json', 'application/x-www-form-urlencoded', 'application/xml', 'text/xml'];

/** The content type choices, with a stored value the list lacks (an old short name such as `json`) kept, as it is. */
export function contentTypeOptions(stored: string): { value: string; label: string }[] {
  const known = opts(...CONTENT_TYPES);
  return stored && !CONTENT_TYPES.includes(stored) ? [{ value: stored, label: stored }, ...known] : known;
}

/** Text fields of the form, by the API's field name. */
const TEXTS = ['name', 'company', 'contact', 'endpointUrl', 'requestBody', 'authHeader', 'authUsername', 'bidAmountPath', 'destinationNumberPath',
  'acceptancePath', 'currencyPath', 'durationPath', 'expiryPath', 'rejectReasonPath', 'timezone'] as const;
/** Optional text fields: empty is null. */
const OPTIONAL = new Set(['authUsername', 'acceptancePath', 'currencyPath', 'durationPath', 'expiryPath', 'rejectReasonPath']);
const INTS = ['timeoutMs', 'concurrencyLimit', 'hourlyCap', 'dailyCap', 'monthlyCap', 'totalCap'] as const;
const REQUIRED_INTS = new Set(['timeoutMs']);
const MONEY = ['minBidAmount', 'maxBidAmount'] as const;

export const NEW_TARGET: Target = {
  name: '', endpointUrl: 'https://', httpMethod: 'POST', contentType: 'application/json', headers: {},
  requestBody: '{"callerId": "{callerId}", "requestId": "{requestId}"}', authType: 'none', authHeader: 'X-API-Key',
  timeoutMs: 500, bidAmountPath: 'bidAmount', destinationNumberPath: 'phoneNumber', acceptancePath: 'accepted',
  minBidAmount: '0.00', maxBidAmount: '50.00', currency: 'USD', timezone: 'America/New_York', status: 'active',
};

type Draft = Record<string, string>;

function draftOf(t: Target): Draft {
  const d: Draft = {};
  for (const k of TEXTS) d[k] = text(t[k] as string | null | undefined);
  for (const k of INTS) d[k] = text(t[k] as number | null | undefined);
  for (const k of MONEY) d[k] = formatMoney(t[k] as string | undefined);
  for (const k of ['httpMethod', 'contentType', 'authType', 'currency', 'status']) d[k] = String(t[k] ?? '');
  d.headers = Object.entries((t.headers as Record<string, string> | undefined) ?? {}).map(([k, v]) => `${k}: ${v}`).join('\n');
  d.filters = filtersText(t.filters as TagFilter[] | undefined);
  d.authToken = '';
  d.authPassword = '';
  return d;
}

/** The target to send: `base` with the draft laid over, or what is already wrong. */
export function targetBody(base: Target, d: Draft): { body?: Target; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const body: Target = { ...base };
  for (const k of TEXTS) body[k] = OPTIONAL.has(k) && !d[k].trim() ? null : d[k];
  for (const k of INTS) {
    const n = intOrNull(d[k]);
    if (Number.isNaN(n) || (n === null && REQUIRED_INTS.has(k))) errors.push({ field: k, message: 'must be a whole number' });
    body[k] = n;
  }
  for (const k of MONEY) {
    if (!isAmount(d[k])) errors.push({ field: k, message: 'must be an amount such as 2.50 (at most two decimals)' });
    body[k] = d[k].trim();
  }
  for (const k of ['httpMethod', 'contentType', 'authType', 'currency', 'status']) body[k] = d[k];
  const headers: Record<string, string> = {};
  for (const line of d.headers.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf(':');
    if (i <= 0) errors.push({ field: 'headers', message: `"${line}" is not Name: value` });
    else headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  body.headers = headers;
  body.filters = parseFilters(d.filters);
  // Write-only: sent only when typed (empty keeps the stored one).
  delete body.authToken;
  delete body.authPassword;
  delete body.authConfigured;
  if (d.authToken) body.authToken = d.authToken;
  if (d.authPassword) body.authPassword = d.authPassword;
  return errors.length ? { errors } : { body, errors };
}

export function TargetForm({ target }: { target?: Target }) {
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    // The form's fields, and the target they are laid over (the one loaded, or after a conflict the current one).
    initial: () => ({ base: target ?? NEW_TARGET, fields: draftOf(target ?? NEW_TARGET) }),
    version: target?.version,
    check: (d: { base: Target; fields: Draft }) => targetBody(d.base, d.fields),
    save: (body, version) => (target?.id ? api.put<Target>(`${TARGETS}/${target.id}`, body, version) : api.post<Target>(TARGETS, body)),
    invalidates: [TARGETS],
    onSaved: () => navigate('rtb-targets'),
    reload: target?.id ? (async () => {
      const current = await client.fetchQuery(item<Target>(TARGETS, target.id as string));
      return { draft: { base: current, fields: draftOf(current) }, version: current.version };
    }) : undefined,
  });
  const { err } = f;
  const draft = f.draft.fields;
  const setField = (k: string, v: string) => f.setDraft((d) => ({ ...d, fields: { ...d.fields, [k]: v } }));
  const t = (k: string, label: string, hint?: string, type?: string) => (
    <TextField label={label} value={draft[k]} onChange={(v) => setField(k, v)} error={err(k)} hint={hint} type={type} />
  );
  const sel = (k: string, label: string, options: { value: string; label: string }[]) => (
    <SelectField label={label} value={draft[k]} onChange={(v) => setField(k, v)} options={options} error={err(k)} />
  );

  const auth = draft.authType;
  return (
    <form onSubmit={f.submit} noValidate aria-label={target ? `Edit target ${String(target.name)}` : 'New RTB target'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <fieldset>
        <legend>Bidder</legend>
        {t('name', 'Name')}
        {t('company', 'Company')}
        {t('contact', 'Contact')}
        {sel('status', 'Status', opts('active', 'paused', 'inactive'))}
      </fieldset>
      <fieldset>
        <legend>Bid request</legend>
        {t('endpointUrl', 'Endpoint URL', 'Where bid requests go, http(s)://…; may hold {variables}', 'url')}
        {sel('httpMethod', 'HTTP method', [{ value: 'POST', label: 'POST (the template is the body)' }, { value: 'GET', label: 'GET (variables in the URL)' }])}
        {sel('contentType', 'Content type', contentTypeOptions(draft.contentType))}
        <Field label="Request body template" error={err('requestBody')} hint="With {variables} such as {callerId}, {requestId}, {callerState}, {tag:NAME}">
          {(a) => <textarea {...a} rows={4} className="json" value={draft.requestBody} onChange={(e) => setField('requestBody', e.target.value)} />}
        </Field>
        <Field label="Extra headers" error={err('headers')} hint="One Name: value a line">
          {(a) => <textarea {...a} rows={2} value={draft.headers} onChange={(e) => setField('headers', e.target.value)} />}
        </Field>
        {t('timeoutMs', 'Timeout ms', 'How long this bidder may take to answer')}
        {sel('authType', 'Authentication', [{ value: 'none', label: 'none' }, { value: 'apiKey', label: 'API key header' }, { value: 'bearer', label: 'bearer token' }, { value: 'basic', label: 'basic' }])}
        {auth === 'apiKey' && t('authHeader', 'API key header name')}
        {(auth === 'apiKey' || auth === 'bearer') &&
          t('authToken', auth === 'apiKey' ? 'API key' : 'Bearer token', target?.authConfigured ? 'Stored (never shown); empty keeps it' : undefined, 'password')}
        {auth === 'basic' && t('authUsername', 'User name')}
        {auth === 'basic' && t('authPassword', 'Password', target?.authConfigured ? 'Stored (never shown); empty keeps it' : undefined, 'password')}
      </fieldset>
      <fieldset>
        <legend>Reading the answer (key, dotted path or JSONPath)</legend>
        {t('bidAmountPath', 'Bid amount path')}
        {t('destinationNumberPath', 'Destination number path')}
        {t('acceptancePath', 'Acceptance path', 'Empty: every answer with an amount is a bid')}
        {t('currencyPath', 'Currency path')}
        {t('durationPath', 'Duration path', 'The talk time the bid pays for, seconds')}
        {t('expiryPath', 'Expiry path')}
        {t('rejectReasonPath', 'Reject reason path')}
      </fieldset>
      <fieldset>
        <legend>Bids and caps (caps empty: no limit)</legend>
        {t('minBidAmount', 'Minimum bid', 'Decimal, such as 1.50')}
        {t('maxBidAmount', 'Maximum bid', 'Decimal, such as 50.00')}
        {sel('currency', 'Currency', opts('USD', 'CAD', 'EUR', 'GBP', 'AUD'))}
        {t('timezone', 'Time zone', 'IANA name: caps reset in it')}
        {t('concurrencyLimit', 'Concurrency limit')}
        {t('hourlyCap', 'Hourly cap')}
        {t('dailyCap', 'Daily cap')}
        {t('monthlyCap', 'Monthly cap')}
        {t('totalCap', 'Total cap')}
      </fieldset>
      <fieldset>
        <legend>Call tags</legend>
        <FiltersField value={draft.filters} onChange={(v) => setField('filters', v)} error={f.errUnder('filters', true)} />
      </fieldset>
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{target ? 'Save target' : 'Create target'}</button>
        <a href={href('rtb-targets')}>Cancel</a>
        {target?.id && <a href={href('rtb-targets', target.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function TargetPage({ id }: { id: string }) {
  const isNew = id === 'new';
  // The form starts from the version read now, not a cached one.
  const { data, error, isFetchedAfterMount } = useQuery({ ...item<Target>(TARGETS, id), enabled: !isNew });
  const ready = isNew || (isFetchedAfterMount && !!data);
  return (
    <section>
      <h1>{isNew ? 'New RTB target' : `RTB target ${String(data?.name ?? '')}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <TargetForm key={id} target={isNew ? undefined : data} />}
    </section>
  );
}
