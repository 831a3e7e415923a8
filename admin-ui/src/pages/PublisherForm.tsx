// A publisher (a traffic source the network pays for calls) as a form: its
// name, company, contact, status, the sub id trackers know it by, and its
// caps (calls at once, per day and per month in the tenant's time zone).
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api';
import type { FieldError } from '../api';
import { ErrorBanner, FormBanner, SelectField, TextField, intOrNull, opts, text } from '../components';
import { useForm } from '../form';
import { item } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { Publisher } from '../types';

export const PUBLISHERS = '/api/publishers';

interface PublisherDraft {
  name: string; company: string; contact: string; status: string; subId: string;
  concurrencyLimit: string; dailyCap: string; monthlyCap: string;
}

const CAPS = ['concurrencyLimit', 'dailyCap', 'monthlyCap'] as const;

const draftOf = (p?: Publisher): PublisherDraft => ({
  name: p?.name ?? '', company: p?.company ?? '', contact: p?.contact ?? '', status: p?.status ?? 'active', subId: p?.subId ?? '',
  concurrencyLimit: text(p?.concurrencyLimit), dailyCap: text(p?.dailyCap), monthlyCap: text(p?.monthlyCap),
});

/** The request body of a draft (an empty sub id or cap is none), or what is already wrong. */
export function publisherBody(d: PublisherDraft): { body?: Record<string, unknown>; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const body: Record<string, unknown> = {
    name: d.name.trim(), company: d.company.trim(), contact: d.contact.trim(), status: d.status, subId: d.subId.trim() || null,
  };
  for (const cap of CAPS) {
    const n = intOrNull(d[cap]);
    if (Number.isNaN(n)) errors.push({ field: cap, message: 'must be a whole number (leave empty for no cap)' });
    body[cap] = n;
  }
  return errors.length ? { errors } : { body, errors };
}

export function PublisherForm({ publisher }: { publisher?: Publisher }) {
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => draftOf(publisher),
    version: publisher?.version,
    check: publisherBody,
    save: (body, version) => (publisher ? api.put(`${PUBLISHERS}/${publisher.id}`, body, version) : api.post(PUBLISHERS, body)),
    invalidates: [PUBLISHERS],
    onSaved: () => navigate('publishers'),
    reload: publisher && (async () => {
      const current = await client.fetchQuery(item<Publisher>(PUBLISHERS, publisher.id));
      return { draft: draftOf(current), version: current.version };
    }),
  });
  const { draft, set, err } = f;
  return (
    <form onSubmit={f.submit} noValidate aria-label={publisher ? `Edit publisher ${publisher.name}` : 'New publisher'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <TextField label="Name" value={draft.name} onChange={set('name')} error={err('name')} required />
      <TextField label="Company" value={draft.company} onChange={set('company')} error={err('company')} />
      <TextField label="Contact" value={draft.contact} onChange={set('contact')} error={err('contact')} hint="A person or an e-mail address" />
      <SelectField label="Status" value={draft.status} onChange={set('status')} options={opts('active', 'paused')} error={err('status')} />
      <TextField label="Sub ID" value={draft.subId} onChange={set('subId')} error={err('subId')}
        hint="The id trackers know this publisher by (letters, digits, _ - .); optional" />
      <fieldset>
        <legend>Caps</legend>
        <p className="hint">A call over a cap is refused (reason publisher-cap); a paused publisher's calls are refused (publisher-paused). Days and months are the tenant's (Settings: time zone).</p>
        <TextField label="Concurrency limit" value={draft.concurrencyLimit} onChange={set('concurrencyLimit')} error={err('concurrencyLimit')} inputMode="numeric" hint="Calls at once; empty: unlimited" />
        <TextField label="Daily cap" value={draft.dailyCap} onChange={set('dailyCap')} error={err('dailyCap')} inputMode="numeric" />
        <TextField label="Monthly cap" value={draft.monthlyCap} onChange={set('monthlyCap')} error={err('monthlyCap')} inputMode="numeric" />
      </fieldset>
      <p className="hint">Give the publisher numbers, pools or tracking tags on their own pages; its payout is set by each campaign's payout rules.</p>
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{publisher ? 'Save publisher' : 'Create publisher'}</button>
        <a href={href('publishers')}>Cancel</a>
      </div>
    </form>
  );
}

export function PublisherPage({ id }: { id: string }) {
  const isNew = id === 'new';
  // The form starts from the version read now, not a cached one.
  const { data, error, isFetchedAfterMount } = useQuery({ ...item<Publisher>(PUBLISHERS, id), enabled: !isNew });
  const ready = isNew || (isFetchedAfterMount && !!data);
  return (
    <section>
      <h1>{isNew ? 'New publisher' : `Publisher ${data?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <PublisherForm key={id} publisher={isNew ? undefined : data} />}
    </section>
  );
}
