// A number pool as a form: its numbers picked from the inventory (a number
// another pool or a campaign holds cannot be picked), the fallback shown when
// every number is leased, and the lease timings.
import { useState, type FormEvent } from 'react';
import { ApiError, api, type FieldError } from '../api';
import { ErrorBanner, SelectField, TextField, intOrNull, opts, text, useLoad, listAll } from '../components';
import { useCan } from '../role';
import { href, navigate } from '../route';

export interface Pool {
  id: string;
  name: string;
  numbers: string[];
  fallbackNumber: string | null;
  sessionTimeoutSeconds: number;
  closedBrowserDelaySeconds: number;
  status: string;
  version: number;
}

interface InventoryNumber { id: string; phoneNumber: string; friendlyName?: string | null; poolId?: string | null; campaignId?: string | null }

/** The request body, or what is already wrong. */
export function poolBody(d: { name: string; numbers: string[]; fallbackNumber: string; sessionTimeoutSeconds: string; closedBrowserDelaySeconds: string; status: string }) {
  const errors: FieldError[] = [];
  const int = (field: string, v: string) => {
    const n = intOrNull(v);
    if (n === null || Number.isNaN(n)) errors.push({ field, message: 'must be a whole number' });
    return n;
  };
  const body = {
    name: d.name.trim(),
    numbers: d.numbers,
    fallbackNumber: d.fallbackNumber.trim() || null,
    sessionTimeoutSeconds: int('sessionTimeoutSeconds', d.sessionTimeoutSeconds),
    closedBrowserDelaySeconds: int('closedBrowserDelaySeconds', d.closedBrowserDelaySeconds),
    status: d.status,
  };
  return errors.length ? { errors } : { body, errors };
}

export function PoolForm({ pool, inventory }: { pool?: Pool; inventory: InventoryNumber[] }) {
  const canEdit = useCan('manager');
  const [name, setName] = useState(pool?.name ?? '');
  const [numbers, setNumbers] = useState<string[]>(pool?.numbers ?? []);
  const [fallbackNumber, setFallback] = useState(pool?.fallbackNumber ?? '');
  const [sessionTimeoutSeconds, setTimeout_] = useState(text(pool?.sessionTimeoutSeconds ?? 1800));
  const [closedBrowserDelaySeconds, setDelay] = useState(text(pool?.closedBrowserDelaySeconds ?? 30));
  const [status, setStatus] = useState(pool?.status ?? 'active');
  const [version, setVersion] = useState(pool?.version);
  const [error, setError] = useState<unknown>();
  const [localErrors, setLocalErrors] = useState<FieldError[]>([]);
  const apiErr = error instanceof ApiError ? error : undefined;
  const err = (f: string) => localErrors.find((e) => e.field === f)?.message ?? apiErr?.field(f);
  const numbersErr = apiErr?.fields.filter((f) => f.field.startsWith('numbers')).map((f) => `${f.field}: ${f.message}`).join('; ') || undefined;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const { body, errors } = poolBody({ name, numbers, fallbackNumber, sessionTimeoutSeconds, closedBrowserDelaySeconds, status });
    setLocalErrors(errors);
    setError(undefined);
    if (!body) return;
    try {
      const saved = pool ? await api.put<Pool>(`/api/pools/${pool.id}`, body, version) : await api.post<Pool>('/api/pools', body);
      setVersion(saved.version);
      navigate('pools');
    } catch (e) {
      setError(e);
    }
  }

  async function reload() {
    if (!pool) return;
    try {
      const p = await api.get<Pool>(`/api/pools/${pool.id}`);
      setName(p.name);
      setNumbers(p.numbers);
      setFallback(p.fallbackNumber ?? '');
      setTimeout_(text(p.sessionTimeoutSeconds));
      setDelay(text(p.closedBrowserDelaySeconds));
      setStatus(p.status);
      setVersion(p.version);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  }

  const toggle = (n: string, on: boolean) => setNumbers((ns) => (on ? [...ns, n] : ns.filter((x) => x !== n)));
  // Held elsewhere: another pool's, or a campaign's direct number.
  const heldElsewhere = (n: InventoryNumber) => (n.poolId && n.poolId !== pool?.id) || !!n.campaignId;

  return (
    <form onSubmit={submit} noValidate aria-label={pool ? `Edit pool ${pool.name}` : 'New pool'}>
      <ErrorBanner error={error} onReload={reload} />
      {!canEdit && <p className="banner" role="note">Read only: changes need the manager role.</p>}
      <TextField label="Name" value={name} onChange={setName} error={err('name')} />
      <fieldset>
        <legend>Numbers</legend>
        <p className="hint">Each visitor is shown one of these while the page is open.</p>
        {numbersErr && <p className="field-error" role="alert">{numbersErr}</p>}
        <ul className="checklist">
          {inventory.length === 0 && <li>No numbers in the inventory: <a href={href('numbers')}>add or buy some</a>.</li>}
          {inventory.map((n) => (
            <li key={n.id}>
              <label>
                <input type="checkbox" checked={numbers.includes(n.phoneNumber)} disabled={!!heldElsewhere(n)}
                  onChange={(e) => toggle(n.phoneNumber, e.target.checked)} />
                {' '}{n.phoneNumber}{n.friendlyName ? ` (${n.friendlyName})` : ''}
                {heldElsewhere(n) && <small> — used by {n.campaignId ? 'a campaign' : 'another pool'}</small>}
              </label>
            </li>
          ))}
        </ul>
      </fieldset>
      <TextField label="Fallback number" value={fallbackNumber} onChange={setFallback} error={err('fallbackNumber')} type="tel"
        hint="Shown when every number is leased; empty: the page keeps its own number" />
      <TextField label="Session timeout seconds" value={sessionTimeoutSeconds} onChange={setTimeout_} error={err('sessionTimeoutSeconds')}
        inputMode="numeric" hint="A lease ends after this many idle seconds" />
      <TextField label="Closed browser delay seconds" value={closedBrowserDelaySeconds} onChange={setDelay} error={err('closedBrowserDelaySeconds')}
        inputMode="numeric" hint="Calls after the page closed are still attributed to it for this long" />
      <SelectField label="Status" value={status} onChange={setStatus} options={opts('active', 'paused', 'inactive')} error={err('status')} />
      <div className="form-actions">
        <button type="submit" disabled={!canEdit}>{pool ? 'Save pool' : 'Create pool'}</button>
        <a href={href('pools')}>Cancel</a>
        {pool && <a href={href('pools', pool.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function PoolPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const { data, error, loading } = useLoad(async () => {
    const [pool, inventory] = await Promise.all([
      isNew ? Promise.resolve(undefined) : api.get<Pool>(`/api/pools/${id}`),
      listAll<InventoryNumber>('/api/numbers'),
    ]);
    return { pool, inventory };
  }, [id]);
  return (
    <section>
      <h1>{isNew ? 'New pool' : `Pool ${data?.pool?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {loading && <p>Loading…</p>}
      {data && !loading && <PoolForm key={id} pool={data.pool} inventory={data.inventory} />}
    </section>
  );
}
