// A tracking number of the inventory as a form: the number itself (fixed once
// added), a label for people, and whether it is in use.
import { useState, type FormEvent } from 'react';
import { ApiError, api } from '../api';
import { ErrorBanner, SelectField, TextField, opts, useLoad } from '../components';
import { useCan } from '../role';
import { href, navigate } from '../route';

export interface InventoryNumber {
  id: string;
  phoneNumber: string;
  friendlyName: string | null;
  status: string;
  version: number;
}

export function NumberForm({ number }: { number?: InventoryNumber }) {
  const canEdit = useCan('manager');
  const [phoneNumber, setPhone] = useState(number?.phoneNumber ?? '');
  const [friendlyName, setName] = useState(number?.friendlyName ?? '');
  const [status, setStatus] = useState(number?.status ?? 'active');
  const [error, setError] = useState<unknown>();
  const fe = error instanceof ApiError ? error : undefined;

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    const body = { friendlyName: friendlyName.trim() || null, status };
    try {
      if (number) await api.put(`/api/numbers/${number.id}`, body, number.version);
      else await api.post('/api/numbers', { ...body, phoneNumber: phoneNumber.trim() });
      navigate('numbers');
    } catch (e) {
      setError(e);
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-label={number ? `Edit number ${number.phoneNumber}` : 'New number'}>
      <ErrorBanner error={error} />
      {!canEdit && <p className="banner" role="note">Read only: changes need the manager role.</p>}
      {number ? (
        <p>Number <strong>{number.phoneNumber}</strong> (it cannot change).</p>
      ) : (
        <TextField label="Phone number" type="tel" value={phoneNumber} onChange={setPhone} error={fe?.field('phoneNumber')}
          hint="A number you already own at your carrier, E.164 such as +15550001000 (or buy one from Twilio on the Numbers page)" />
      )}
      <TextField label="Friendly name" value={friendlyName} onChange={setName} error={fe?.field('friendlyName')} hint="A label for people" />
      <SelectField label="Status" value={status} onChange={setStatus} options={opts('active', 'paused', 'inactive')} error={fe?.field('status')} />
      <div className="form-actions">
        <button type="submit" disabled={!canEdit}>{number ? 'Save number' : 'Add number'}</button>
        <a href={href('numbers')}>Cancel</a>
        {number && <a href={href('numbers', number.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function NumberPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const { data, error, loading } = useLoad(() => (isNew ? Promise.resolve(undefined) : api.get<InventoryNumber>(`/api/numbers/${id}`)), [id]);
  return (
    <section>
      <h1>{isNew ? 'New number' : `Number ${data?.phoneNumber ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {loading && <p>Loading…</p>}
      {!loading && !error && <NumberForm key={id} number={data} />}
    </section>
  );
}
