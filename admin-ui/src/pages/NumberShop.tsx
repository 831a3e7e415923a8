// Buying and releasing tracking numbers through Twilio (the tenant's own
// account, set on the Settings page): search by area code or toll-free, buy
// one (optionally straight into a pool), give one back.
import { useState, type FormEvent } from 'react';
import { ApiError, api, request } from '../api';
import { ErrorBanner, SelectField, TextField, useLoad, listAll } from '../components';
import type { Named } from '../types';

interface Available { phoneNumber: string; friendlyName: string; locality?: string | null; region?: string | null; sms: boolean }

export function NumberShop({ onBought }: { onBought: () => void }) {
  const pools = useLoad(() => listAll<Named>('/api/pools'), []);
  const [areaCode, setAreaCode] = useState('');
  const [type, setType] = useState('local');
  const [poolId, setPoolId] = useState('');
  const [found, setFound] = useState<Available[]>();
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [busy, setBusy] = useState(false);

  async function search(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    setNotice(undefined);
    setBusy(true);
    try {
      const r = await api.get<{ items: Available[] }>('/api/numbers/available', { areaCode: type === 'local' ? areaCode.trim() : undefined, type, limit: 20 });
      setFound(r.items);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  async function buy(n: Available) {
    setError(undefined);
    setNotice(undefined);
    setBusy(true);
    try {
      await api.post('/api/numbers/purchase', { phoneNumber: n.phoneNumber, poolId: poolId || null });
      setFound((f) => f?.filter((x) => x.phoneNumber !== n.phoneNumber));
      setNotice(`Bought ${n.phoneNumber}${poolId ? ' into the pool' : ''}: its calls now come to Switchboard.`);
      onBought();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const fe = error instanceof ApiError ? error : undefined;
  return (
    <section aria-label="Buy a number from Twilio" className="detail">
      <h2>Buy a number from Twilio</h2>
      <form className="filters" onSubmit={search} aria-label="Search numbers for sale">
        <SelectField label="Number type" value={type} onChange={setType}
          options={[{ value: 'local', label: 'local' }, { value: 'tollFree', label: 'toll-free' }]} error={fe?.field('type')} />
        {type === 'local' && <TextField label="Area code" value={areaCode} onChange={setAreaCode} inputMode="numeric" placeholder="415" error={fe?.field('areaCode')} />}
        <SelectField label="Add to pool" value={poolId} onChange={setPoolId}
          options={[{ value: '', label: '(no pool: a direct tracking number)' }, ...(pools.data ?? []).map((p) => ({ value: p.id, label: p.name }))]} />
        <div className="form-actions"><button type="submit" disabled={busy}>Search</button></div>
      </form>
      <ErrorBanner error={error} />
      {notice && <p role="status" className="banner success">{notice}</p>}
      {found && found.length === 0 && <p>Twilio offers no such numbers now.</p>}
      {found && found.length > 0 && (
        <table>
          <thead>
            <tr><th scope="col">Number</th><th scope="col">Where</th><th scope="col">SMS</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {found.map((n) => (
              <tr key={n.phoneNumber}>
                <td>{n.friendlyName || n.phoneNumber} <small>{n.phoneNumber}</small></td>
                <td>{[n.locality, n.region].filter(Boolean).join(', ') || '—'}</td>
                <td>{n.sms ? 'yes' : 'no'}</td>
                <td className="actions">
                  <button type="button" disabled={busy} onClick={() => buy(n)} aria-label={`Buy ${n.phoneNumber}`}>Buy</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Gives a number back to Twilio and removes it from the inventory. */
export async function releaseNumber(id: string, phoneNumber: string): Promise<boolean> {
  if (!window.confirm(`Release ${phoneNumber} back to Twilio? Calls to it stop reaching you.`)) return false;
  await request('POST', `/api/numbers/${id}/release`);
  return true;
}
