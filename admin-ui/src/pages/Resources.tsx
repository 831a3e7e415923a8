// The other resources (numbers, pools, RTB targets and routers, tracking
// tags) share one page: a table of their main columns, and a JSON editor for
// create and edit (validated as JSON before it is sent; the API's field
// errors are listed under it). The JSON is the API's own shape, as
// `GET /api/openapi.json` describes it.
import { useState, type FormEvent, type ReactNode } from 'react';
import { api, parseJson } from '../api';
import { ErrorBanner, Field, useLoad, listAll } from '../components';
import { formatMoney } from '../money';
import { useCan } from '../role';
import { href, navigate } from '../route';
import { NumberShop, releaseNumber } from './NumberShop';

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
  /** More on the list page (buying numbers), given a way to reload the list. */
  panel?: (reload: () => void) => ReactNode;
  /** One more row action: resolves true when the list should reload. */
  action?: { label: string; run: (i: Item) => Promise<boolean> };
}

const s = (v: unknown) => (v === null || v === undefined || v === '' ? '—' : Array.isArray(v) ? v.join(', ') : String(v));

export const KINDS: ResourceKind[] = [
  {
    route: 'numbers', schema: 'Number', title: 'Numbers', noun: 'number', path: '/api/numbers',
    columns: [
      { label: 'Number', value: (i) => s(i.phoneNumber) },
      { label: 'Name', value: (i) => s(i.friendlyName) },
      { label: 'Status', value: (i) => s(i.status) },
      { label: 'Used by', value: (i) => (i.poolId ? 'a pool' : i.campaignId ? 'a campaign' : '—') },
    ],
    template: { phoneNumber: '+1555', friendlyName: '', status: 'active' },
    panel: (reload) => <NumberShop onBought={reload} />,
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
      name: '', endpointUrl: 'https://', httpMethod: 'POST', contentType: 'json',
      requestBody: '{"callerId": "{callerId}", "requestId": "{requestId}"}',
      bidAmountPath: 'bidAmount', destinationNumberPath: 'phoneNumber', minBidAmount: '0.00', maxBidAmount: '50.00',
      currency: 'USD', timeoutMs: 500, timezone: 'America/New_York', status: 'active',
    },
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
];


export function ResourceList({ kind }: { kind: ResourceKind }) {
  const canEdit = useCan('manager');
  const { data, error, loading, reload } = useLoad(() => listAll<Item>(kind.path), [kind.path]);
  const [actionError, setActionError] = useState<unknown>();
  const [detail, setDetail] = useState<{ id: string; value: unknown }>();

  async function remove(i: Item) {
    if (!window.confirm(`Delete this ${kind.noun}?`)) return;
    setActionError(undefined);
    try {
      await api.del(`${kind.path}/${i.id}`, i.version);
      reload();
    } catch (e) {
      setActionError(e);
    }
  }

  async function act(i: Item) {
    setActionError(undefined);
    try {
      if (await kind.action!.run(i)) reload();
    } catch (e) {
      setActionError(e);
    }
  }

  async function show(i: Item) {
    setActionError(undefined);
    try {
      setDetail({ id: i.id, value: await kind.detail!(i) });
    } catch (e) {
      setActionError(e);
    }
  }

  return (
    <section>
      <header className="page-head">
        <h1>{kind.title}</h1>
        {canEdit && <a className="button" href={href(kind.route, 'new')}>New {kind.noun}</a>}
      </header>
      {/* Reloading answers a stale action: its message goes with the old list. */}
      <ErrorBanner error={error ?? actionError} onReload={() => { setActionError(undefined); reload(); }} />
      {loading && !data && <p>Loading…</p>}
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
                  {canEdit && kind.action && <button type="button" onClick={() => act(i)}>{kind.action.label}</button>}
                  {canEdit && <button type="button" onClick={() => remove(i)}>Delete</button>}
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
      {canEdit && kind.panel?.(reload)}
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
  label: string;
  submitLabel: string;
  onSubmit: (value: Record<string, unknown>) => Promise<void>;
  onReload?: () => Promise<Record<string, unknown>>;
}) {
  const [textValue, setText] = useState(() => JSON.stringify(props.initial, null, 2));
  const [parseError, setParseError] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const canEdit = useCan('manager');

  async function submit(e: FormEvent) {
    e.preventDefault();
    const { value, error: pe } = parseEditor(textValue);
    setParseError(pe);
    setError(undefined);
    if (!value) return;
    setSaving(true);
    try {
      await props.onSubmit(value);
    } catch (e) {
      setError(e);
    } finally {
      setSaving(false);
    }
  }

  const reload = props.onReload
    ? async () => {
        try {
          setText(JSON.stringify(await props.onReload!(), null, 2));
          setError(undefined);
        } catch (e) {
          setError(e);
        }
      }
    : undefined;

  return (
    <form onSubmit={submit} noValidate>
      <ErrorBanner error={error} onReload={reload} />
      <Field label={props.label} error={parseError} hint="JSON, as the API takes it; money as decimal text such as &quot;25.00&quot;">
        {(a) => <textarea {...a} rows={22} spellCheck={false} value={textValue} onChange={(e) => setText(e.target.value)} className="json" />}
      </Field>
      <div className="form-actions">
        <button type="submit" disabled={saving || !canEdit}>{props.submitLabel}</button>
      </div>
    </form>
  );
}

export function ResourceEdit({ kind, id }: { kind: ResourceKind; id: string }) {
  const isNew = id === 'new';
  const { data, error, loading } = useLoad(
    () => (isNew ? Promise.resolve(kind.template as Item) : api.get<Item>(`${kind.path}/${id}`)),
    [kind.path, id],
  );
  // The version loaded travels as If-Match, so a concurrent change is a 409.
  const [version, setVersion] = useState<number>();
  const loaded = version ?? data?.version;
  return (
    <section>
      <h1>{isNew ? `New ${kind.noun}` : `Edit ${kind.noun}`}</h1>
      <p><a href={href(kind.route)}>Back to {kind.title.toLowerCase()}</a></p>
      <ErrorBanner error={error} />
      {loading && <p>Loading…</p>}
      {data && !loading && (
        <JsonEditor
          key={id}
          initial={data}
          label={`${kind.title}: ${isNew ? 'new' : 'edit'} (JSON)`}
          submitLabel={isNew ? `Create ${kind.noun}` : `Save ${kind.noun}`}
          onSubmit={async (value) => {
            if (isNew) await api.post(kind.path, value);
            else await api.put(`${kind.path}/${id}`, value, loaded);
            navigate(kind.route);
          }}
          onReload={isNew ? undefined : async () => {
            const current = await api.get<Item>(`${kind.path}/${id}`);
            setVersion(current.version);
            return current;
          }}
        />
      )}
      <SchemaFields schema={kind.schema} />
    </section>
  );
}


interface SchemaProp { type?: string | string[]; $ref?: string; oneOf?: unknown[]; description?: string; readOnly?: boolean; writeOnly?: boolean; enum?: string[] }
interface Schema { properties?: Record<string, SchemaProp>; required?: string[]; enum?: string[] }

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
  const { data } = useLoad(() => api.get<{ components: { schemas: Record<string, Schema> } }>('/api/openapi.json'), []);
  const all = data?.components.schemas;
  const s = all?.[schema];
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
