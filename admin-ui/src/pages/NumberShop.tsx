// Buying and releasing tracking numbers through Twilio (the tenant's own
// account, set on the Settings page): search by area code or toll-free, buy
// one (optionally straight into a pool), give one back.
import { useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { ApiError, api, request } from '../api';
import { ErrorBanner, SelectField, TextField } from '../components';
import { list, useAction } from '../query';
import type { AvailableNumber as Available, Named } from '../types';
interface Search { areaCode?: string; type: string }

export function NumberShop() {
  const pools = useQuery(list<Named>('/api/pools'));
  const [areaCode, setAreaCode] = useState('');
  const [type, setType] = useState('local');
  const [poolId, setPoolId] = useState('');
  // The search asked for (none yet: nothing is read).
  const [search, setSearch] = useState<Search>();
  const offers = useQuery({
    queryKey: ['/api/numbers/available', search],
    queryFn: () => api.get<{ items: Available[] }>('/api/numbers/available', { ...search, limit: 20 }),
    enabled: !!search,
  });
  const [bought, setBought] = useState<string[]>([]);
  const [notice, setNotice] = useState<string>();
  // Buying adds to the inventory (and to the pool chosen).
  const buyAction = useAction(
    (n: Available) => api.post('/api/numbers/purchase', { phoneNumber: n.phoneNumber, poolId: poolId || null }),
    ['/api/numbers', '/api/pools'],
  );
  const found = offers.data?.items.filter((n) => !bought.includes(n.phoneNumber));
  const error = offers.error ?? buyAction.error;
  const busy = offers.isFetching || buyAction.busy;

  function submit(e: FormEvent) {
    e.preventDefault();
    setNotice(undefined);
    buyAction.clear();
    const next: Search = { areaCode: type === 'local' ? areaCode.trim() : undefined, type };
    // The same search again is read again (Twilio's offer changes).
    if (JSON.stringify(next) === JSON.stringify(search)) void offers.refetch();
    else setSearch(next);
  }

  async function buy(n: Available) {
    setNotice(undefined);
    const ok = await buyAction.run(n);
    if (ok) {
      setBought((b) => [...b, n.phoneNumber]);
      setNotice(`Bought ${n.phoneNumber}${poolId ? ' into the pool' : ''}: its calls now come to Switchboard.`);
    }
  }

  const fe = error instanceof ApiError ? error : undefined;
  return (
    <section aria-label="Buy a number from Twilio" className="detail">
      <h2>Buy a number from Twilio</h2>
      <form className="filters" onSubmit={submit} aria-label="Search numbers for sale">
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

/** Gives a number back to Twilio and removes it from the inventory (when the user confirms). */
export async function releaseNumber(id: string, phoneNumber: string): Promise<void> {
  if (!window.confirm(`Release ${phoneNumber} back to Twilio? Calls to it stop reaching you.`)) return;
  await request('POST', `/api/numbers/${id}/release`);
}
