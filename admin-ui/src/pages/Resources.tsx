// The other resources (numbers, pools, RTB targets and routers, tracking
// tags, publishers) share one page: a table of their main columns, and a JSON editor for
// create and edit (validated as JSON before it is sent; the API's field
// errors are listed under it). The JSON is the API's own shape, as
// `GET /api/openapi.json` describes it. The blocklist has pages of its own
// and uses the editor only.
import { useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, parseJson } from '../api';
import { ErrorBanner, Field, FormBanner } from '../components';
import { useForm } from '../form';
import { formatMoney } from '../money';
import { doc, item, list, useAction } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import { NumberShop, releaseNumber } from './NumberShop';
import { RtbTargetReport } from './RtbReport';

type Item = Record<string, unknown> & { id: string; version?: number };

export interface ResourceKind {
  /** Route segment: #/numbers. */
  route: string;
  /** Its schema in the OpenAPI document, listed under the editor. */
  schema: string;
  title: string;
  /** One of them, for buttons: "number". */
  noun: string;
  path: string;
  columns: { label: string; value: (i: Item) => string }[];
  /** What "New" starts from. */
  template: Record<string, unknown>;
  /** Extra read-only detail for one item (pool stats). */
  detail?: (i: Item) => Promise<unknown>;
  detailLabel?: string;
  /** More on the list page for editors (buying numbers). */
  panel?: () => ReactNode;
  /** More on the list page for everyone (the RTB targets' figures). */
  report?: () => ReactNode;
  /** One more row action (the list is read again after it). */
  action?: { label: string; run: (i: Item) => Promise<unknown> };
}

const s = (v: unknown) => (v === null || v === undefined || v === '' ? '—' : Array.isArray(v) ? v.join(', ') : String(v));

export const KINDS: ResourceKind[] = [
  {
    route: 'publishers', schema: 'Publisher', title: 'Publishers', noun: 'publisher', path: '/api/publishers',
    columns: [
      { label: 'Name', value: (i) => s(i.name) },
      { label: 'Company', value: (i) => s(i.company) },
      { label: 'Contact', value: (i) => s(i.contact) },
      { label: 'Sub ID', value: (i) => s(i.subId) },
      {
        label: 'Caps',
        value: (i) => [i.concurrencyLimit && `${s(i.concurrencyLimit)} at once`, i.dailyCap && `${s(i.dailyCap)}/day`, i.monthlyCap && `${s(i.monthlyCap)}/month`]
          .filter(Boolean).join(', ') || 'none',
      },
      { label: 'Status', value: (i) => s(i.status) },
    ],
    template: { name: '', company: '', contact: '', status: 'active', subId: null, concurrencyLimit: null, dailyCap: null, monthlyCap: null },
  },
  {
    route: 'numbers', schema: 'Number', title: 'Numbers', noun: 'number', path: '/api/numbers',
    columns: [
      { label: 'Number', value: (i) => s(i.phoneNumber) },
      { label: 'Name', value: (i) => s(i.friendlyName) },
      { label: 'Status', value: (i) => s(i.status) },
      { label: 'Used by', value: (i) => (i.poolId ? 'a pool' : i.campaignId ? 'a campaign' : '—') },
    ],
    template: { phoneNumber: '+1555', friendlyName: '', status: 'active' },
    panel: () => <NumberShop />,
    action: { label: 'Release to Twilio', run: (i) => releaseNumber(i.id, String(i.phoneNumber)) },
  },
  {
    route: 'pools', schema: 'Pool', title: 'Number pools', noun: 'pool', path: '/api/pools',
    columns: [
      { label: 'Name', value: (i) => s(i.name) },
      { label: 'Numbers', value: (i) => s(i.numbers) },
      { label: 'Fallback', value: (i) => s(i.fallbackNumber) },
      { label: 'Status', value: (i) => s(i.status) },
    ],
    template: { name: '', numbers: [], fallbackNumber: null, sessionTimeoutSeconds: 1800, closedBrowserDelaySeconds: 30, status: 'active' },
    detail: (i) => api.get(`/api/pools/${i.id}/stats`),
    detailLabel: 'Stats',
  },
  {
    route: 'rtb-targets', schema: 'RtbTarget', title: 'RTB targets', noun: 'RTB target', path: '/api/rtb/targets',
    columns: [
      { label: 'Name', value: (i) => s(i.name) },
      { label: 'Endpoint', value: (i) => s(i.endpointUrl) },
      { label: 'Bids', value: (i) => `${formatMoney(i.minBidAmount as string)}–${formatMoney(i.maxBidAmount as string)} ${s(i.currency)}` },
      { label: 'Status', value: (i) => s(i.status) },
    ],
    template: {
      name: '', endpointUrl: 'https://', httpMethod: 'POST', contentType: 'application/json',
      requestBody: '{"callerId": "{callerId}", "requestId": "{requestId}"}',
      bidAmountPath: 'bidAmount', destinationNumberPath: 'phoneNumber', minBidAmount: '0.00', maxBidAmount: '50.00',
      currency: 'USD', timeoutMs: 500, timezone: 'America/New_York', status: 'active',
    },
    report: () => <RtbTargetReport />,
  },
  {
    route: 'rtb-routers', schema: 'RtbRouter', title: 'RTB routers', noun: 'RTB router', path: '/api/rtb/routers',
    columns: [
      { label: 'Name', value: (i) => s(i.name) },
      { label: 'Targets', value: (i) => String((i.targets as unknown[] | undefined)?.length ?? 0) },
      { label: 'Deadline', value: (i) => `${s(i.biddingTimeoutMs)} ms` },
      { label: 'Floor', value: (i) => formatMoney(i.floorPrice as string) },
      { label: 'Status', value: (i) => s(i.status) },
    ],
    template: { name: '', targets: [], biddingTimeoutMs: 1000, minBiddersRequired: 1, floorPrice: '0.00', status: 'active' },
  },
  {
    route: 'tracking-tags', schema: 'TrackingTag', title: 'Tracking tags', noun: 'tracking tag', path: '/api/tracking-tags',
    columns: [
      { label: 'Name', value: (i) => s(i.name) },
      { label: 'Tag code', value: (i) => s(i.tagCode) },
      { label: 'Selector', value: (i) => s(i.selector) },
      { label: 'Status', value: (i) => s(i.status) },
    ],
    template: { name: '', poolId: null, campaignId: null, selector: '.phone-number', numberFormat: 'national', status: 'active' },
    // What a site puts in its pages (the public URL is this console's origin when it is served by the server).
    detail: async (i) => `<script src="${window.location.origin}/dni.js" data-tag="${String(i.tagCode)}" async></script>`,
    detailLabel: 'Script tag',
  },
  {
    // Listed a page at a time by its own page (`Blocklist.tsx`); here for the JSON editor.
    route: 'blocklist', schema: 'BlocklistEntry', title: 'Blocklist', noun: 'blocklist entry', path: '/api/blocklist',
    columns: [],
    template: { number: '+1', prefix: null, anonymous: false, campaignId: null, expiresAt: null, note: '' },
  },
];


export function ResourceList({ kind }: { kind: ResourceKind }) {
  const canEdit = useCan('manager');
  const { data, error, isPending: loading, refetch } = useQuery(list<Item>(kind.path));
  const [detail, setDetail] = useState<{ id: string; value: unknown }>();
  // Deleting, and the kind's own action (releasing a number): one at a time.
  const action = useAction(async ({ i, del }: { i: Item; del: boolean }) => {
    if (del) await api.del(`${kind.path}/${i.id}`, i.version);
    else await kind.action!.run(i);
  }, [kind.path]);
  // A detail (pool stats) is read on demand, under the item's key.
  const client = useQueryClient();
  const [detailError, setDetailError] = useState<unknown>();

  function remove(i: Item) {
    if (!window.confirm(`Delete this ${kind.noun}?`)) return;
    void action.run({ i, del: true });
  }

  async function show(i: Item) {
    setDetailError(undefined);
    try {
      const value = await client.fetchQuery({ queryKey: [kind.path, i.id, 'detail'], queryFn: () => kind.detail!(i) });
      setDetail({ id: i.id, value });
    } catch (e) {
      setDetailError(e);
    }
  }

  return (
    <section>
      <header className="page-head">
        <h1>{kind.title}</h1>
        {canEdit && <a className="button" href={href(kind.route, 'new')}>New {kind.noun}</a>}
      </header>
      {/* Reloading answers a stale action: its message goes with the old list. */}
      <ErrorBanner error={error ?? action.error ?? detailError} onReload={() => { action.clear(); void refetch(); }} />
      {loading && <p>Loading…</p>}
      {data && data.length === 0 && <p>None yet.</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr>
              {kind.columns.map((c) => <th key={c.label} scope="col">{c.label}</th>)}
              <th scope="col">Id</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.map((i) => (
              <tr key={i.id}>
                {kind.columns.map((c) => <td key={c.label}>{c.value(i)}</td>)}
                {/* Other resources name it (a router's targets, a tag's pool). */}
                <td><code className="id">{i.id}</code></td>
                <td className="actions">
                  <a href={href(kind.route, i.id)}>{canEdit ? 'Edit' : 'View'}</a>
                  {kind.detail && <button type="button" onClick={() => show(i)}>{kind.detailLabel}</button>}
                  {canEdit && kind.action && <button type="button" disabled={action.busy} onClick={() => void action.run({ i, del: false })}>{kind.action.label}</button>}
                  {canEdit && <button type="button" disabled={action.busy} onClick={() => remove(i)}>Delete</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {detail && (
        <section aria-label={kind.detailLabel} className="detail">
          <h2>{kind.detailLabel}</h2>
          <pre>{typeof detail.value === 'string' ? detail.value : JSON.stringify(detail.value, null, 2)}</pre>
          <button type="button" onClick={() => setDetail(undefined)}>Close</button>
        </section>
      )}
      {kind.report?.()}
      {canEdit && kind.panel?.()}
    </section>
  );
}

/** Parses the editor's text; the message says where JSON is broken. */
export function parseEditor(text: string): { value?: Record<string, unknown>; error?: string } {
  try {
    // Money typed as a number is kept as its decimal text, as the API's answers are.
    const v = parseJson(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'must be a JSON object { … }' };
    return { value: v as Record<string, unknown> };
  } catch (e) {
    return { error: `not valid JSON: ${(e as Error).message}` };
  }
}

export function JsonEditor(props: {
  initial: Record<string, unknown>;
  version?: number | null;
  label: string;
  submitLabel: string;
  /** Sends the object typed, with the version loaded. */
  save: (value: Record<string, unknown>, version: number | null | undefined) => Promise<unknown>;
  /** The collections a save changes. */
  invalidates?: string[];
  onSaved?: () => void;
  /** The current version, after a conflict. */
  onReload?: () => Promise<Record<string, unknown>>;
}) {
  const canEdit = useCan('manager');
  const [parseError, setParseError] = useState<string>();
  const { onReload } = props;
  const f = useForm({
    initial: () => JSON.stringify(props.initial, null, 2),
    version: props.version,
    check: (text: string) => {
      const { value, error } = parseEditor(text);
      setParseError(error);
      return { body: value, errors: [] };
    },
    save: props.save,
    invalidates: props.invalidates ?? [],
    onSaved: props.onSaved,
    reload: onReload && (async () => {
      const current = await onReload();
      setParseError(undefined);
      return { draft: JSON.stringify(current, null, 2), version: current.version as number | undefined };
    }),
  });

  return (
    <form onSubmit={f.submit} noValidate>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} />
      <Field label={props.label} error={parseError} hint="JSON, as the API takes it; money as decimal text such as &quot;25.00&quot;">
        {(a) => <textarea {...a} rows={22} spellCheck={false} value={f.draft} onChange={(e) => f.setDraft(e.target.value)} className="json" />}
      </Field>
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{props.submitLabel}</button>
      </div>
    </form>
  );
}

export function ResourceEdit({ kind, id }: { kind: ResourceKind; id: string }) {
  const isNew = id === 'new';
  const client = useQueryClient();
  // The editor starts from the version read now, not a cached one.
  const { data, error, isFetchedAfterMount } = useQuery({ ...item<Item>(kind.path, id), enabled: !isNew });
  const initial = isNew ? (kind.template as Item) : isFetchedAfterMount ? data : undefined;
  return (
    <section>
      <h1>{isNew ? `New ${kind.noun}` : `Edit ${kind.noun}`}</h1>
      <p><a href={href(kind.route)}>Back to {kind.title.toLowerCase()}</a></p>
      <ErrorBanner error={error} />
      {!initial && !error && <p>Loading…</p>}
      {initial && (
        <JsonEditor
          key={id}
          initial={initial}
          // The version loaded travels as If-Match, so a concurrent change is refused.
          version={isNew ? undefined : initial.version}
          label={`${kind.title}: ${isNew ? 'new' : 'edit'} (JSON)`}
          submitLabel={isNew ? `Create ${kind.noun}` : `Save ${kind.noun}`}
          save={(value, version) => (isNew ? api.post(kind.path, value) : api.put(`${kind.path}/${id}`, value, version))}
          invalidates={[kind.path]}
          onSaved={() => navigate(kind.route)}
          onReload={isNew ? undefined : () => client.fetchQuery(item<Item>(kind.path, id))}
        />
      )}
      <SchemaFields schema={kind.schema} />
    </section>
  );
}


interface SchemaProp { type?: string | string[]; $ref?: string; oneOf?: unknown[]; description?: string; readOnly?: boolean; writeOnly?: boolean; enum?: string[] }
interface Schema { properties?: Record<string, SchemaProp>; required?: string[]; enum?: string[]; allOf?: (Schema & { $ref?: string })[] }

/** A schema's own fields with those of every `allOf` part (a flattened struct such as `Caps`). */
function fieldsOf(s: Schema, all: Record<string, Schema>): Schema {
  const parts = (s.allOf ?? []).map((p) => fieldsOf(p.$ref ? all[p.$ref.split('/').pop()!] ?? {} : p, all));
  return parts.reduce<Schema>(
    (acc, p) => ({ properties: { ...acc.properties, ...p.properties }, required: [...(acc.required ?? []), ...(p.required ?? [])] }),
    { properties: s.properties, required: s.required },
  );
}

/** A property's type, as a person reads it (enums spelled out). */
function typeOf(p: SchemaProp, all: Record<string, Schema>): string {
  const ref = p.$ref ?? (p.oneOf as SchemaProp[] | undefined)?.find((o) => o.$ref)?.$ref;
  if (ref) {
    const name = ref.split('/').pop()!;
    const target = all[name];
    return target?.enum ? target.enum.join(' | ') : name;
  }
  return Array.isArray(p.type) ? p.type.join(' or ') : p.type ?? '';
}

/** The fields of a resource, from the server's own OpenAPI document. */
export function SchemaFields({ schema }: { schema: string }) {
  // The document changes only with the server: read once a session.
  const { data } = useQuery({ ...doc<{ components: { schemas: Record<string, Schema> } }>(['/api/openapi.json'], '/api/openapi.json'), staleTime: Infinity });
  const all = data?.components.schemas;
  const s = all?.[schema] && fieldsOf(all[schema], all);
  if (!all || !s?.properties) return null;
  return (
    <details className="detail">
      <summary>Fields of {schema} (from the API's OpenAPI document)</summary>
      <table>
        <thead><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Meaning</th></tr></thead>
        <tbody>
          {Object.entries(s.properties).map(([name, p]) => (
            <tr key={name}>
              <th scope="row"><code>{name}</code>{s.required?.includes(name) && ' (required)'}</th>
              <td>{typeOf(p, all)}</td>
              <td>{p.description}{p.readOnly && ' (read-only)'}{p.writeOnly && ' (write-only)'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
