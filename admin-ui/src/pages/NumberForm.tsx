// A tracking number of the inventory as a form: the number itself (fixed once
// added), a label for people, whether it is in use, and the publisher whose
// traffic it carries (its calls are that publisher's).
import { useQueries, useQueryClient } from '@tanstack/react-query';
import { api } from '../api';
import { ErrorBanner, FormBanner, SelectField, TextField, opts } from '../components';
import { useForm } from '../form';
import { item, list } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { InventoryNumber, Named } from '../types';

export type { InventoryNumber };

const NUMBERS = '/api/numbers';

interface NumberDraft { phoneNumber: string; friendlyName: string; status: string; publisherId: string }

const draftOf = (n?: InventoryNumber): NumberDraft => ({
  phoneNumber: n?.phoneNumber ?? '', friendlyName: n?.friendlyName ?? '', status: n?.status ?? 'active', publisherId: n?.publisherId ?? '',
});

export function NumberForm({ number, publishers = [] }: { number?: InventoryNumber; publishers?: Named[] }) {
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => draftOf(number),
    version: number?.version,
    check: (d) => {
      const body = { friendlyName: d.friendlyName.trim() || null, status: d.status, publisherId: d.publisherId || null };
      return { body: number ? body : { ...body, phoneNumber: d.phoneNumber.trim() }, errors: [] };
    },
    save: (body, version) => (number ? api.put(`${NUMBERS}/${number.id}`, body, version) : api.post(NUMBERS, body)),
    invalidates: [NUMBERS],
    onSaved: () => navigate('numbers'),
    reload: number && (async () => {
      const current = await client.fetchQuery(item<InventoryNumber>(NUMBERS, number.id));
      return { draft: draftOf(current), version: current.version };
    }),
  });
  const { draft, set, err } = f;

  return (
    <form onSubmit={f.submit} noValidate aria-label={number ? `Edit number ${number.phoneNumber}` : 'New number'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      {number ? (
        <p>Number <strong>{number.phoneNumber}</strong> (it cannot change).</p>
      ) : (
        <TextField label="Phone number" type="tel" value={draft.phoneNumber} onChange={set('phoneNumber')} error={err('phoneNumber')}
          hint="A number you already own at your carrier, E.164 such as +15550001000 (or buy one from Twilio on the Numbers page)" />
      )}
      <TextField label="Friendly name" value={draft.friendlyName} onChange={set('friendlyName')} error={err('friendlyName')} hint="A label for people" />
      <SelectField label="Status" value={draft.status} onChange={set('status')} options={opts('active', 'paused', 'inactive')} error={err('status')} />
      <SelectField label="Publisher" value={draft.publisherId} onChange={set('publisherId')} error={err('publisherId')}
        hint="Calls to this number are attributed to (and paid to) this publisher"
        options={[{ value: '', label: '(none)' }, ...publishers.map((p) => ({ value: p.id, label: p.name }))]} />
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{number ? 'Save number' : 'Add number'}</button>
        <a href={href('numbers')}>Cancel</a>
        {number && <a href={href('numbers', number.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function NumberPage({ id }: { id: string }) {
  const isNew = id === 'new';
  // The form starts from the version read now, not a cached one.
  const [number, publishers] = useQueries({
    queries: [{ ...item<InventoryNumber>(NUMBERS, id), enabled: !isNew }, list<Named>('/api/publishers')],
  });
  const data = number.data as InventoryNumber | undefined;
  const error = number.error ?? publishers.error;
  const ready = (isNew || (number.isFetchedAfterMount && !!data)) && !!publishers.data;
  return (
    <section>
      <h1>{isNew ? 'New number' : `Number ${data?.phoneNumber ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <NumberForm key={id} number={isNew ? undefined : data} publishers={publishers.data as Named[]} />}
    </section>
  );
}
