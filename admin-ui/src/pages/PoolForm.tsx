// A number pool as a form: its numbers picked from the inventory (a number
// another pool or a campaign holds cannot be picked), the fallback shown when
// every number is leased, and the lease timings.
import { useQueries, useQueryClient } from '@tanstack/react-query';
import { api, type FieldError } from '../api';
import { ErrorBanner, FormBanner, SelectField, TextField, opts, text, wholeNumbers } from '../components';
import { useForm } from '../form';
import { item, list } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { InventoryNumber as Stored, Pool } from '../types';

export type { Pool };

const POOLS = '/api/pools';

/** What the form reads of an inventory number. */
type InventoryNumber = Pick<Stored, 'id' | 'phoneNumber'> & Partial<Pick<Stored, 'friendlyName' | 'poolId' | 'campaignId'>>;

interface Draft { name: string; numbers: string[]; fallbackNumber: string; sessionTimeoutSeconds: string; closedBrowserDelaySeconds: string; status: string }

const draftOf = (p?: Pool): Draft => ({
  name: p?.name ?? '',
  numbers: p?.numbers ?? [],
  fallbackNumber: p?.fallbackNumber ?? '',
  sessionTimeoutSeconds: text(p?.sessionTimeoutSeconds ?? 1800),
  closedBrowserDelaySeconds: text(p?.closedBrowserDelaySeconds ?? 30),
  status: p?.status ?? 'active',
});

/** The request body, or what is already wrong. */
export function poolBody(d: Draft) {
  const errors: FieldError[] = [];
  const int = wholeNumbers(errors);
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
  const client = useQueryClient();
  const f = useForm({
    initial: () => draftOf(pool),
    version: pool?.version,
    check: poolBody,
    save: (body, version) => (pool ? api.put<Pool>(`${POOLS}/${pool.id}`, body, version) : api.post<Pool>(POOLS, body)),
    invalidates: [POOLS],
    onSaved: () => navigate('pools'),
    reload: pool && (async () => {
      const current = await client.fetchQuery(item<Pool>(POOLS, pool.id));
      return { draft: draftOf(current), version: current.version };
    }),
  });
  const { draft, set, err } = f;
  const numbersErr = f.errUnder('numbers', true);

  const toggle = (n: string, on: boolean) => f.setDraft((d) => ({ ...d, numbers: on ? [...d.numbers, n] : d.numbers.filter((x) => x !== n) }));
  // Held elsewhere: another pool's, or a campaign's direct number.
  const heldElsewhere = (n: InventoryNumber) => (n.poolId && n.poolId !== pool?.id) || !!n.campaignId;

  return (
    <form onSubmit={f.submit} noValidate aria-label={pool ? `Edit pool ${pool.name}` : 'New pool'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <TextField label="Name" value={draft.name} onChange={set('name')} error={err('name')} />
      <fieldset>
        <legend>Numbers</legend>
        <p className="hint">Each visitor is shown one of these while the page is open.</p>
        {numbersErr && <p className="field-error" role="alert">{numbersErr}</p>}
        <ul className="checklist">
          {inventory.length === 0 && <li>No numbers in the inventory: <a href={href('numbers')}>add or buy some</a>.</li>}
          {inventory.map((n) => (
            <li key={n.id}>
              <label>
                <input type="checkbox" checked={draft.numbers.includes(n.phoneNumber)} disabled={!!heldElsewhere(n)}
                  onChange={(e) => toggle(n.phoneNumber, e.target.checked)} />
                {' '}{n.phoneNumber}{n.friendlyName ? ` (${n.friendlyName})` : ''}
                {heldElsewhere(n) && <small> — used by {n.campaignId ? 'a campaign' : 'another pool'}</small>}
              </label>
            </li>
          ))}
        </ul>
      </fieldset>
      <TextField label="Fallback number" value={draft.fallbackNumber} onChange={set('fallbackNumber')} error={err('fallbackNumber')} type="tel"
        hint="Shown when every number is leased; empty: the page keeps its own number" />
      <TextField label="Session timeout seconds" value={draft.sessionTimeoutSeconds} onChange={set('sessionTimeoutSeconds')} error={err('sessionTimeoutSeconds')}
        inputMode="numeric" hint="A lease ends after this many idle seconds" />
      <TextField label="Closed browser delay seconds" value={draft.closedBrowserDelaySeconds} onChange={set('closedBrowserDelaySeconds')} error={err('closedBrowserDelaySeconds')}
        inputMode="numeric" hint="Calls after the page closed are still attributed to it for this long" />
      <SelectField label="Status" value={draft.status} onChange={set('status')} options={opts('active', 'paused', 'inactive')} error={err('status')} />
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{pool ? 'Save pool' : 'Create pool'}</button>
        <a href={href('pools')}>Cancel</a>
        {pool && <a href={href('pools', pool.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function PoolPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const [pool, inventory] = useQueries({ queries: [{ ...item<Pool>(POOLS, id), enabled: !isNew }, list<InventoryNumber>('/api/numbers')] });
  const error = pool.error ?? inventory.error;
  // The form starts from the version read now, not a cached one.
  const ready = (isNew || (pool.isFetchedAfterMount && !!pool.data)) && !!inventory.data;
  const p = isNew ? undefined : pool.data;
  return (
    <section>
      <h1>{isNew ? 'New pool' : `Pool ${p?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <PoolForm key={id} pool={p} inventory={inventory.data ?? []} />}
    </section>
  );
}
