// A DNI tracking tag as a form: the pool its numbers come from, the campaign
// its calls belong to, which elements are swapped and for which visitors.
import { useQueries, useQueryClient } from '@tanstack/react-query';
import { api, type FieldError } from '../api';
import { CheckField, ErrorBanner, FormBanner, SelectField, TextField, intOrNull, opts, text } from '../components';
import { useForm } from '../form';
import { item, list } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { Named, TrackingTag } from '../types';

export type { TrackingTag };

const TAGS = '/api/tracking-tags';

interface Draft {
  name: string;
  tagCode: string;
  poolId: string;
  campaignId: string;
  selector: string;
  numberFormat: string;
  sessionTimeoutSeconds: string;
  stickyDays: string;
  onlySources: string;
  paidOnly: boolean;
  status: string;
}

const draftOf = (t?: TrackingTag): Draft => ({
  name: t?.name ?? '',
  tagCode: t?.tagCode ?? '',
  poolId: t?.poolId ?? '',
  campaignId: t?.campaignId ?? '',
  selector: t?.selector ?? '.phone-number',
  numberFormat: t?.numberFormat ?? 'national',
  sessionTimeoutSeconds: text(t?.sessionTimeoutSeconds),
  stickyDays: text(t?.stickyDays),
  onlySources: (t?.onlySources ?? []).join(', '),
  paidOnly: t?.paidOnly ?? false,
  status: t?.status ?? 'active',
});

/** The request body (`tagCode` only on create: it cannot change), or what is already wrong. */
export function tagBody(d: Draft, isNew: boolean) {
  const errors: FieldError[] = [];
  const optInt = (field: string, v: string) => {
    const n = intOrNull(v);
    if (Number.isNaN(n)) errors.push({ field, message: 'must be a whole number' });
    return n;
  };
  const body: Record<string, unknown> = {
    name: d.name.trim(),
    poolId: d.poolId || null,
    campaignId: d.campaignId || null,
    selector: d.selector.trim(),
    numberFormat: d.numberFormat,
    sessionTimeoutSeconds: optInt('sessionTimeoutSeconds', d.sessionTimeoutSeconds),
    stickyDays: optInt('stickyDays', d.stickyDays),
    onlySources: d.onlySources.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean),
    paidOnly: d.paidOnly,
    status: d.status,
  };
  // Empty on create: the server makes one up.
  if (isNew && d.tagCode.trim()) body.tagCode = d.tagCode.trim();
  return errors.length ? { errors } : { body, errors };
}

export function TagForm({ tag, pools, campaigns }: { tag?: TrackingTag; pools: Named[]; campaigns: Named[] }) {
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => draftOf(tag),
    version: tag?.version,
    check: (d: Draft) => tagBody(d, !tag),
    save: (body, version) => (tag ? api.put<TrackingTag>(`${TAGS}/${tag.id}`, body, version) : api.post<TrackingTag>(TAGS, body)),
    invalidates: [TAGS],
    onSaved: () => navigate('tracking-tags'),
    reload: tag && (async () => {
      const current = await client.fetchQuery(item<TrackingTag>(TAGS, tag.id));
      return { draft: draftOf(current), version: current.version };
    }),
  });
  const { draft, set, err } = f;

  return (
    <form onSubmit={f.submit} noValidate aria-label={tag ? `Edit tag ${tag.name}` : 'New tracking tag'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <TextField label="Name" value={draft.name} onChange={set('name')} error={err('name')} />
      {tag ? (
        <p>Tag code <code>{tag.tagCode}</code> (it cannot change: sites embed it).</p>
      ) : (
        <TextField label="Tag code" value={draft.tagCode} onChange={set('tagCode')} error={err('tagCode')}
          hint="What the site's script tag names; empty: one is made up" />
      )}
      <SelectField label="Number pool" value={draft.poolId} onChange={set('poolId')} error={err('poolId')}
        options={[{ value: '', label: '(none)' }, ...pools.map((p) => ({ value: p.id, label: p.name }))]} />
      <SelectField label="Campaign" value={draft.campaignId} onChange={set('campaignId')} error={err('campaignId')}
        options={[{ value: '', label: '(none)' }, ...campaigns.map((c) => ({ value: c.id, label: c.name }))]} />
      <TextField label="Selector" value={draft.selector} onChange={set('selector')} error={err('selector')}
        hint="CSS selector of the elements whose number is swapped (tel: links are swapped too)" />
      <SelectField label="Number format" value={draft.numberFormat} onChange={set('numberFormat')} error={err('numberFormat')}
        options={[{ value: 'national', label: 'national: (555) 000-1000' }, { value: 'dashed', label: 'dashed: 555-000-1000' },
          { value: 'dotted', label: 'dotted: 555.000.1000' }, { value: 'e164', label: 'e164: +15550001000' }]} />
      <TextField label="Session timeout seconds" value={draft.sessionTimeoutSeconds} onChange={set('sessionTimeoutSeconds')}
        error={err('sessionTimeoutSeconds')} inputMode="numeric" hint="Idle lease limit; empty: the pool's" />
      <TextField label="Sticky days" value={draft.stickyDays} onChange={set('stickyDays')} error={err('stickyDays')} inputMode="numeric"
        hint="A returning visitor gets the same number for this many days; empty: not sticky" />
      <TextField label="Only sources" value={draft.onlySources} onChange={set('onlySources')} error={err('onlySources')}
        hint="Comma-separated (google, bing); empty: every source" />
      <CheckField label="Paid traffic only" checked={draft.paidOnly} onChange={set('paidOnly')} error={err('paidOnly')} />
      <SelectField label="Status" value={draft.status} onChange={set('status')} options={opts('active', 'paused', 'inactive')} error={err('status')} />
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{tag ? 'Save tag' : 'Create tag'}</button>
        <a href={href('tracking-tags')}>Cancel</a>
        {tag && <a href={href('tracking-tags', tag.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function TagPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const [tag, pools, campaigns] = useQueries({
    queries: [{ ...item<TrackingTag>(TAGS, id), enabled: !isNew }, list<Named>('/api/pools'), list<Named>('/api/campaigns')],
  });
  const error = tag.error ?? pools.error ?? campaigns.error;
  // The form starts from the version read now, not a cached one.
  const ready = (isNew || (tag.isFetchedAfterMount && !!tag.data)) && !!pools.data && !!campaigns.data;
  const t = isNew ? undefined : tag.data;
  return (
    <section>
      <h1>{isNew ? 'New tracking tag' : `Tracking tag ${t?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <TagForm key={id} tag={t} pools={pools.data ?? []} campaigns={campaigns.data ?? []} />}
    </section>
  );
}
