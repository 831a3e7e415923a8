// Campaigns: a tracking number (or pool, or RTB router), the buyers its
// calls go to, by priority and weight or round-robin, and what its calls pay
// their publishers (payout rules: a default and per-publisher overrides).
// A campaign's page also lists the pixels its calls fire.
import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type FieldError } from '../api';
import { CheckField, ErrorBanner, Field, FormBanner, SelectField, TextField, opts, text, wholeNumbers } from '../components';
import { useForm } from '../form';
import { formatMoney, isAmount } from '../money';
import { item, list, useAction } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { Buyer, BuyerAssignment, Campaign, Named, PayoutRule } from '../types';
import { CampaignPixels } from './Pixels';
import { LastWeek } from './Reports';

const CAMPAIGNS = '/api/campaigns';

export function CampaignList() {
  const canEdit = useCan('manager');
  const campaigns = useQuery(list<Campaign>(CAMPAIGNS));
  const buyers = useQuery(list<Buyer>('/api/buyers'));
  const data = campaigns.data && buyers.data ? { campaigns: campaigns.data, buyers: buyers.data } : undefined;
  const error = campaigns.error ?? buyers.error;
  const loading = campaigns.isPending || buyers.isPending;
  const buyerName = (id: string) => data?.buyers.find((b) => b.id === id)?.name ?? id;
  // Pause, activate and delete: one at a time, each with the version listed.
  const action = useAction(
    ({ c, status }: { c: Campaign; status?: Campaign['status'] }) =>
      status ? api.patch<Campaign>(`${CAMPAIGNS}/${c.id}`, { status }, c.version) : api.del(`${CAMPAIGNS}/${c.id}`, c.version),
    [CAMPAIGNS],
  );
  const busy = action.pending?.c.id;

  const setStatus = (c: Campaign, status: Campaign['status']) => void action.run({ c, status });

  function remove(c: Campaign) {
    if (!window.confirm(`Delete campaign ${c.name}? Its number stops routing calls.`)) return;
    void action.run({ c });
  }

  const routing = (c: Campaign) =>
    c.routingType === 'rtb' ? 'RTB auction' : `${c.routingType === 'pool' ? 'pool, ' : ''}${c.routingPolicy}`;

  return (
    <section>
      <header className="page-head">
        <h1>Campaigns</h1>
        {canEdit && <a className="button" href={href('campaigns', 'new')}>New campaign</a>}
      </header>
      {/* Reloading answers a stale action: its message goes with the old list. */}
      <ErrorBanner error={error ?? action.error} onReload={() => { action.clear(); void campaigns.refetch(); void buyers.refetch(); }} />
      {loading && !data && <p>Loading…</p>}
      {data && data.campaigns.length === 0 && <p>No campaigns yet.</p>}
      {data && data.campaigns.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Number</th>
              <th scope="col">Routing</th>
              <th scope="col">Buyers</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.campaigns.map((c) => (
              <tr key={c.id}>
                <td><a href={href('campaigns', c.id)}>{c.name}</a></td>
                <td><span className={`status ${c.status}`}>{c.status}</span></td>
                <td>{c.phoneNumber ?? (c.poolId ? 'pool' : '—')}</td>
                <td>{routing(c)}</td>
                <td>
                  {c.buyers.length === 0
                    ? 'none'
                    : [...c.buyers].sort((a, b) => a.priority - b.priority)
                        .map((a) => `${buyerName(a.buyerId)} (p${a.priority}, w${a.weight})`).join(', ')}
                </td>
                <td className="actions">
                  <a href={href('campaigns', c.id)}>{canEdit ? 'Edit' : 'View'}</a>
                  {!canEdit ? null : c.status === 'active' ? (
                    <button type="button" disabled={busy === c.id} onClick={() => setStatus(c, 'paused')} aria-label={`Pause ${c.name}`}>Pause</button>
                  ) : (
                    <button type="button" disabled={busy === c.id} onClick={() => setStatus(c, 'active')} aria-label={`Activate ${c.name}`}>Activate</button>
                  )}
                  {canEdit && <button type="button" disabled={busy === c.id} onClick={() => remove(c)} aria-label={`Delete ${c.name}`}>Delete</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

interface Row { assigned: boolean; priority: string; weight: string }

/** One payout rule as the form holds it; `publisherId` '' is the default rule. */
export interface RuleDraft {
  publisherId: string;
  type: PayoutRule['type'];
  seconds: string;
  /** Whether it pays a fixed amount or a share of the revenue. */
  basis: 'amount' | 'percent';
  value: string;
  currency: string;
  payDuplicates: boolean;
}

export const ruleDraft = (r?: PayoutRule, currency = 'USD'): RuleDraft => ({
  publisherId: r?.publisherId ?? '',
  type: r?.type ?? 'onConversion',
  seconds: text(r?.seconds ?? ''),
  basis: r?.percent !== undefined && r?.percent !== null ? 'percent' : 'amount',
  value: r?.percent !== undefined && r?.percent !== null ? String(r.percent) : r?.amount ? formatMoney(r.amount) : '',
  currency: r?.currency ?? currency,
  payDuplicates: r?.payDuplicates ?? false,
});

/** The payout rules to send, listing in `errors` what is already wrong (`payoutRules[i].…`, as the API names them). */
export function rulesBody(rules: RuleDraft[], errors: FieldError[]): Record<string, unknown>[] {
  return rules.map((r, i) => {
    const at = (f: string) => `payoutRules[${i}].${f}`;
    const v = r.value.trim();
    const body: Record<string, unknown> = { publisherId: r.publisherId || null, type: r.type, currency: r.currency, payDuplicates: r.payDuplicates };
    if (r.basis === 'amount') {
      if (!isAmount(v)) errors.push({ field: at('amount'), message: 'must be an amount such as 12.50 (at most two decimals, not negative)' });
      body.amount = v;
    } else {
      const p = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!(p >= 0 && p <= 100)) errors.push({ field: at('percent'), message: 'must be a whole number from 0 to 100' });
      body.percent = p;
    }
    if (r.type === 'afterSeconds') {
      const n = /^\d+$/.test(r.seconds.trim()) ? Number(r.seconds.trim()) : NaN;
      if (!(n >= 1)) errors.push({ field: at('seconds'), message: 'must be a whole number of seconds, at least 1' });
      body.seconds = n;
    }
    return body;
  });
}

interface CampaignDraft {
  name: string;
  description: string;
  status: string;
  routingType: string;
  phoneNumber: string;
  poolId: string;
  rtbRouterId: string;
  routingPolicy: string;
  rows: Record<string, Row>;
  /** Assignments of buyers the form does not list (kept as they are). */
  order: string[];
  recording: boolean;
  dialTimeoutSeconds: string;
  callerIdMode: string;
  duplicateWindowHours: string;
  duplicateAction: string;
  maxFallthrough: string;
  /** RTB template tags, one `NAME=value` a line. */
  tags: string;
  payoutRules: RuleDraft[];
}

export function campaignDraft(buyers: Buyer[], c?: Campaign): CampaignDraft {
  const rows: Record<string, Row> = {};
  for (const b of buyers) rows[b.id] = { assigned: false, priority: '1', weight: '1' };
  for (const a of c?.buyers ?? []) rows[a.buyerId] = { assigned: true, priority: String(a.priority), weight: String(a.weight) };
  return {
    name: c?.name ?? '',
    description: c?.description ?? '',
    status: c?.status ?? 'draft',
    routingType: c?.routingType ?? 'direct',
    phoneNumber: c?.phoneNumber ?? '',
    poolId: c?.poolId ?? '',
    rtbRouterId: c?.rtbRouterId ?? '',
    routingPolicy: c?.routingPolicy ?? 'priority',
    rows,
    order: [...(c?.buyers ?? []).map((a) => a.buyerId), ...buyers.map((b) => b.id).filter((id) => !c?.buyers.some((a) => a.buyerId === id))],
    recording: c?.recording ?? false,
    dialTimeoutSeconds: text(c?.dialTimeoutSeconds ?? 30),
    callerIdMode: c?.callerIdMode ?? 'caller',
    duplicateWindowHours: text(c?.duplicateWindowHours ?? 0),
    duplicateAction: c?.duplicateAction ?? 'same-buyer',
    maxFallthrough: text(c?.maxFallthrough ?? 3),
    tags: Object.entries(c?.tags ?? {}).map(([k, v]) => `${k}=${v}`).join('\n'),
    payoutRules: (c?.payoutRules ?? []).map((r) => ruleDraft(r)),
  };
}

/** The request body, or what is already wrong; `index` maps buyers[i] back to buyer ids. */
export function campaignBody(d: CampaignDraft): { body?: Record<string, unknown>; errors: FieldError[]; index: string[] } {
  const errors: FieldError[] = [];
  const int = wholeNumbers(errors);
  const index: string[] = [];
  const buyers: BuyerAssignment[] = [];
  for (const id of d.order) {
    const r = d.rows[id];
    if (!r?.assigned) continue;
    const i = index.length;
    index.push(id);
    buyers.push({ buyerId: id, priority: int(`buyers[${i}].priority`, r.priority) ?? 1, weight: int(`buyers[${i}].weight`, r.weight) ?? 1 });
  }
  const body: Record<string, unknown> = {
    name: d.name.trim(),
    description: d.description,
    status: d.status,
    routingType: d.routingType,
    // A number routes to the campaign whatever the type (an RTB campaign is
    // called at one too); the pool and the router only for their type.
    phoneNumber: d.phoneNumber.trim() || null,
    poolId: d.routingType === 'pool' && d.poolId ? d.poolId : null,
    rtbRouterId: d.routingType === 'rtb' && d.rtbRouterId ? d.rtbRouterId : null,
    routingPolicy: d.routingPolicy,
    buyers,
    recording: d.recording,
    dialTimeoutSeconds: int('dialTimeoutSeconds', d.dialTimeoutSeconds),
    callerIdMode: d.callerIdMode,
    duplicateWindowHours: int('duplicateWindowHours', d.duplicateWindowHours),
    duplicateAction: d.duplicateAction,
    maxFallthrough: int('maxFallthrough', d.maxFallthrough),
  };
  const tags: Record<string, string> = {};
  for (const line of d.tags.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const eq = line.indexOf('=');
    if (eq <= 0) errors.push({ field: 'tags', message: `"${line}" is not NAME=value` });
    else tags[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  body.tags = tags;
  body.payoutRules = rulesBody(d.payoutRules, errors);
  return errors.length ? { errors, index } : { body, errors, index };
}

export function CampaignForm(props: {
  campaign?: Campaign;
  buyers: Buyer[];
  pools: Named[];
  routers: Named[];
  publishers: Named[];
  onSaved: (c: Campaign) => void;
}) {
  const { campaign, buyers } = props;
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => campaignDraft(buyers, campaign),
    version: campaign?.version,
    check: campaignBody,
    save: (body, version) =>
      campaign ? api.put<Campaign>(`${CAMPAIGNS}/${campaign.id}`, body, version) : api.post<Campaign>(CAMPAIGNS, body),
    invalidates: [CAMPAIGNS],
    onSaved: props.onSaved,
    reload: campaign && (async () => {
      const current = await client.fetchQuery(item<Campaign>(CAMPAIGNS, campaign.id));
      return { draft: campaignDraft(buyers, current), version: current.version };
    }),
  });
  const { draft, setDraft, set, err, apiError: apiErr } = f;
  // A buyer row's errors: buyers[i].* for its place in the array sent.
  const index = f.submitted ? campaignBody(f.submitted).index : [];
  const rowErr = (id: string, what: 'priority' | 'weight' | 'buyerId') => {
    const i = index.indexOf(id);
    return i < 0 ? undefined : err(`buyers[${i}].${what}`);
  };
  const setRow = (id: string, patch: Partial<Row>) => setDraft((d) => ({ ...d, rows: { ...d.rows, [id]: { ...d.rows[id], ...patch } } }));

  const buyerName = (id: string) => buyers.find((b) => b.id === id)?.name ?? `buyer ${id}`;
  const setRule = (i: number, patch: Partial<RuleDraft>) =>
    setDraft((d) => ({ ...d, payoutRules: d.payoutRules.map((r, j) => (j === i ? { ...r, ...patch } : r)) }));
  // A new rule is in the revenue's currency: the first assigned buyer's.
  const revenueCurrency = buyers.find((b) => draft.rows[b.id]?.assigned)?.currency ?? 'USD';
  const publisherOptions = [
    { value: '', label: 'every publisher (default)' },
    ...props.publishers.map((p) => ({ value: p.id, label: p.name })),
  ];

  return (
    <form onSubmit={f.submit} noValidate aria-label={campaign ? `Edit campaign ${campaign.name}` : 'New campaign'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <fieldset>
        <legend>Campaign</legend>
        <TextField label="Name" value={draft.name} onChange={set('name')} error={err('name')} required />
        <TextField label="Description" value={draft.description} onChange={set('description')} error={err('description')} />
        <SelectField label="Status" value={draft.status} onChange={set('status')} options={opts('draft', 'active', 'paused', 'completed')} error={err('status')}
          hint="Active takes calls; activating checks there is an active buyer and a number" />
      </fieldset>
      <fieldset>
        <legend>Routing</legend>
        <SelectField label="Routing type" value={draft.routingType} onChange={set('routingType')} error={err('routingType')}
          options={[{ value: 'direct', label: 'direct (one tracking number)' }, { value: 'pool', label: 'pool (DNI numbers)' }, { value: 'rtb', label: 'rtb (auction)' }]} />
        <TextField label="Phone number" value={draft.phoneNumber} onChange={set('phoneNumber')} error={err('phoneNumber')} type="tel"
          hint={draft.routingType === 'pool' ? 'Optional: a direct tracking number besides the pool, E.164'
            : 'The tracking number callers dial, E.164 such as +15550001000'} />
        {draft.routingType === 'pool' && (
          <SelectField label="Number pool" value={draft.poolId} onChange={set('poolId')} error={err('poolId')}
            options={[{ value: '', label: '(choose a pool)' }, ...props.pools.map((p) => ({ value: p.id, label: p.name }))]} />
        )}
        {draft.routingType === 'rtb' && (
          <SelectField label="RTB router" value={draft.rtbRouterId} onChange={set('rtbRouterId')} error={err('rtbRouterId')}
            options={[{ value: '', label: '(choose a router)' }, ...props.routers.map((p) => ({ value: p.id, label: p.name }))]} />
        )}
        <SelectField label="Routing policy" value={draft.routingPolicy} onChange={set('routingPolicy')} error={err('routingPolicy')}
          options={[{ value: 'priority', label: 'priority (weights within a level)' }, { value: 'round-robin', label: 'round-robin' }]} />
      </fieldset>
      <fieldset>
        <legend>Buyers</legend>
        {err('buyers') && <p className="field-error" role="alert">{err('buyers')}</p>}
        {draft.order.length === 0 && <p>No buyers yet: <a href={href('buyers', 'new')}>create one</a> first.</p>}
        {draft.order.length > 0 && (
          <table className="assignments">
            <thead>
              <tr><th scope="col">Buyer</th><th scope="col">Assigned</th><th scope="col">Priority (1 first)</th><th scope="col">Weight</th></tr>
            </thead>
            <tbody>
              {draft.order.map((id) => {
                const r = draft.rows[id];
                const name = buyerName(id);
                return (
                  <tr key={id}>
                    <th scope="row">{name}{rowErr(id, 'buyerId') && <span className="field-error"> {rowErr(id, 'buyerId')}</span>}</th>
                    <td><CheckField label={`Assign ${name}`} checked={r.assigned} onChange={(v) => setRow(id, { assigned: v })} /></td>
                    <td><TextField label={`${name} priority`} value={r.priority} onChange={(v) => setRow(id, { priority: v })} error={rowErr(id, 'priority')} inputMode="numeric" /></td>
                    <td><TextField label={`${name} weight`} value={r.weight} onChange={(v) => setRow(id, { weight: v })} error={rowErr(id, 'weight')} inputMode="numeric" /></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </fieldset>
      <fieldset>
        <legend>Payout rules</legend>
        <p className="hint">What a call pays its publisher (the one of the number, pool or tag it came through). A publisher's own rule wins over the default; a call without a publisher is paid nothing.</p>
        {draft.payoutRules.length === 0 && <p>No payout rules: publishers are paid nothing.</p>}
        {draft.payoutRules.map((r, i) => {
          const n = i + 1;
          return (
            <div key={i} className="rule" role="group" aria-label={`Payout rule ${n}`}>
              <SelectField label={`Rule ${n} publisher`} value={r.publisherId} onChange={(v) => setRule(i, { publisherId: v })}
                error={err(`payoutRules[${i}].publisherId`)} options={publisherOptions} />
              <SelectField label={`Rule ${n} pays`} value={r.type} onChange={(v) => setRule(i, { type: v as RuleDraft['type'] })}
                error={err(`payoutRules[${i}].type`)}
                options={[{ value: 'perCall', label: 'per answered call' }, { value: 'afterSeconds', label: 'after a talk time' }, { value: 'onConversion', label: 'on conversion' }]} />
              {r.type === 'afterSeconds' && (
                <TextField label={`Rule ${n} seconds`} value={r.seconds} onChange={(v) => setRule(i, { seconds: v })}
                  error={err(`payoutRules[${i}].seconds`)} inputMode="numeric" />
              )}
              <SelectField label={`Rule ${n} basis`} value={r.basis} onChange={(v) => setRule(i, { basis: v as RuleDraft['basis'] })}
                options={[{ value: 'amount', label: 'a fixed amount' }, { value: 'percent', label: 'a percent of the revenue' }]} />
              <TextField label={r.basis === 'amount' ? `Rule ${n} amount` : `Rule ${n} percent`} value={r.value}
                onChange={(v) => setRule(i, { value: v })} inputMode="decimal"
                error={err(`payoutRules[${i}].${r.basis}`)} />
              <SelectField label={`Rule ${n} currency`} value={r.currency} onChange={(v) => setRule(i, { currency: v })}
                error={err(`payoutRules[${i}].currency`)} options={opts('USD', 'CAD', 'EUR', 'GBP', 'AUD')} />
              <CheckField label={`Rule ${n} pays duplicate calls`} checked={r.payDuplicates} onChange={(v) => setRule(i, { payDuplicates: v })} />
              <button type="button" onClick={() => setDraft((d) => ({ ...d, payoutRules: d.payoutRules.filter((_, j) => j !== i) }))}>
                Remove rule {n}
              </button>
            </div>
          );
        })}
        <button type="button" onClick={() => setDraft((d) => ({ ...d, payoutRules: [...d.payoutRules, ruleDraft(undefined, revenueCurrency)] }))}>
          Add payout rule
        </button>
      </fieldset>
      <fieldset>
        <legend>Call handling</legend>
        <CheckField label="Record calls" checked={draft.recording} onChange={set('recording')} error={err('recording')} />
        <TextField label="Dial timeout seconds" value={draft.dialTimeoutSeconds} onChange={set('dialTimeoutSeconds')} error={err('dialTimeoutSeconds')} inputMode="numeric" />
        <TextField label="Max fall-through" value={draft.maxFallthrough} onChange={set('maxFallthrough')} error={err('maxFallthrough')} inputMode="numeric"
          hint="Further buyers tried when the first does not answer" />
        <SelectField label="Caller id shown to buyers" value={draft.callerIdMode} onChange={set('callerIdMode')} error={err('callerIdMode')}
          options={[{ value: 'caller', label: "the caller's number" }, { value: 'trackingNumber', label: 'the tracking number' }]} />
        <TextField label="Duplicate window hours" value={draft.duplicateWindowHours} onChange={set('duplicateWindowHours')} error={err('duplicateWindowHours')}
          inputMode="numeric" hint="Repeat callers within this many hours are duplicates; 0 turns it off" />
        <SelectField label="Duplicate action" value={draft.duplicateAction} onChange={set('duplicateAction')} error={err('duplicateAction')}
          options={[{ value: 'same-buyer', label: 'send to the same buyer' }, { value: 'reject', label: 'reject' }]} />
        <Field label="RTB template tags" error={[err('tags'), ...(apiErr?.fields ?? []).filter((f) => f.field.startsWith('tags.')).map((f) => `${f.field.slice(5)}: ${f.message}`)].filter(Boolean).join('; ') || undefined} hint="One NAME=value a line; bid request templates use them as {tag:NAME}">
          {(a) => <textarea {...a} rows={3} value={draft.tags} onChange={(e) => set('tags')(e.target.value)} />}
        </Field>
      </fieldset>
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{campaign ? 'Save campaign' : 'Create campaign'}</button>
        <a href={href('campaigns')}>Cancel</a>
      </div>
    </form>
  );
}

export function CampaignPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const [campaign, buyers, pools, routers, publishers] = useQueries({
    queries: [
      { ...item<Campaign>(CAMPAIGNS, id), enabled: !isNew },
      list<Buyer>('/api/buyers'),
      list<Named>('/api/pools'),
      list<Named>('/api/rtb/routers'),
      list<Named>('/api/publishers'),
    ],
  });
  const error = campaign.error ?? buyers.error ?? pools.error ?? routers.error ?? publishers.error;
  // The form starts from the version read now, not a cached one.
  const ready = (isNew || (campaign.isFetchedAfterMount && !!campaign.data)) && !!buyers.data && !!pools.data && !!routers.data && !!publishers.data;
  const c = isNew ? undefined : (campaign.data as Campaign | undefined);
  return (
    <section>
      <h1>{isNew ? 'New campaign' : `Campaign ${c?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {!isNew && ready && <LastWeek filter={{ campaignId: id }} label={`Calls of ${c?.name ?? 'the campaign'}, last 7 days`} />}
      {!isNew && ready && <CampaignPixels campaignId={id} />}
      {ready && (
        <CampaignForm key={id} campaign={c} buyers={buyers.data as Buyer[]} pools={pools.data as Named[]} routers={routers.data as Named[]}
          publishers={publishers.data as Named[]} onSaved={() => navigate('campaigns')} />
      )}
    </section>
  );
}
