// An RTB router as a form: which targets bid (priority breaks ties, weight
// shares among equals), the auction's deadline, how many valid bids it needs
// and the floor price (decimal text, never a float).
import { useState, type FormEvent } from 'react';
import { ApiError, api, type FieldError } from '../api';
import { CheckField, ErrorBanner, SelectField, TextField, intOrNull, opts, text, useLoad, listAll } from '../components';
import { formatMoney, isAmount } from '../money';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { Named } from '../types';

interface RouterTarget { targetId: string; priority: number; weight: number }

export interface RtbRouter {
  id: string;
  name: string;
  targets: RouterTarget[];
  biddingTimeoutMs: number;
  minBiddersRequired: number;
  floorPrice: string;
  status: string;
  version: number;
}

interface Row { on: boolean; priority: string; weight: string }

export function RouterForm({ router, targets }: { router?: RtbRouter; targets: Named[] }) {
  const canEdit = useCan('manager');
  const [name, setName] = useState(router?.name ?? '');
  const [rows, setRows] = useState<Record<string, Row>>(() => {
    const r: Record<string, Row> = {};
    for (const t of targets) r[t.id] = { on: false, priority: '1', weight: '1' };
    for (const t of router?.targets ?? []) r[t.targetId] = { on: true, priority: String(t.priority), weight: String(t.weight) };
    return r;
  });
  const [biddingTimeoutMs, setTimeoutMs] = useState(text(router?.biddingTimeoutMs ?? 1000));
  const [minBiddersRequired, setMinBidders] = useState(text(router?.minBiddersRequired ?? 1));
  const [floorPrice, setFloor] = useState(router ? formatMoney(router.floorPrice) : '0.00');
  const [status, setStatus] = useState(router?.status ?? 'active');
  const [version, setVersion] = useState(router?.version);
  const [error, setError] = useState<unknown>();
  const [localErrors, setLocalErrors] = useState<FieldError[]>([]);
  const [sentOrder, setSentOrder] = useState<string[]>([]);
  const apiErr = error instanceof ApiError ? error : undefined;
  const err = (f: string) => localErrors.find((e) => e.field === f)?.message ?? apiErr?.field(f);
  const rowErr = (id: string, what: string) => {
    const i = sentOrder.indexOf(id);
    return i < 0 ? undefined : err(`targets[${i}].${what}`);
  };
  // The router's own targets first, in its order, then the others.
  const order = [...(router?.targets ?? []).map((t) => t.targetId), ...targets.map((t) => t.id).filter((id) => !router?.targets.some((t) => t.targetId === id))];
  const targetName = (id: string) => targets.find((t) => t.id === id)?.name ?? `target ${id}`;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errors: FieldError[] = [];
    const int = (field: string, v: string) => {
      const n = intOrNull(v);
      if (n === null || Number.isNaN(n)) errors.push({ field, message: 'must be a whole number' });
      return n;
    };
    const chosen = order.filter((id) => rows[id]?.on);
    const body = {
      name: name.trim(),
      targets: chosen.map((id, i) => ({ targetId: id, priority: int(`targets[${i}].priority`, rows[id].priority), weight: int(`targets[${i}].weight`, rows[id].weight) })),
      biddingTimeoutMs: int('biddingTimeoutMs', biddingTimeoutMs),
      minBiddersRequired: int('minBiddersRequired', minBiddersRequired),
      floorPrice: floorPrice.trim() || '0',
      status,
    };
    if (floorPrice.trim() && !isAmount(floorPrice)) errors.push({ field: 'floorPrice', message: 'must be an amount such as 2.50 (at most two decimals)' });
    setSentOrder(chosen);
    setLocalErrors(errors);
    setError(undefined);
    if (errors.length) return;
    try {
      const saved = router ? await api.put<RtbRouter>(`/api/rtb/routers/${router.id}`, body, version) : await api.post<RtbRouter>('/api/rtb/routers', body);
      setVersion(saved.version);
      navigate('rtb-routers');
    } catch (e) {
      setError(e);
    }
  }

  const setRow = (id: string, patch: Partial<Row>) => setRows((r) => ({ ...r, [id]: { ...r[id], ...patch } }));
  return (
    <form onSubmit={submit} noValidate aria-label={router ? `Edit router ${router.name}` : 'New RTB router'}>
      <ErrorBanner error={error} />
      {!canEdit && <p className="banner" role="note">Read only: changes need the manager role.</p>}
      <TextField label="Name" value={name} onChange={setName} error={err('name')} />
      <fieldset>
        <legend>Bidders</legend>
        {err('targets') && <p className="field-error" role="alert">{err('targets')}</p>}
        {order.length === 0 && <p>No RTB targets yet: <a href={href('rtb-targets', 'new')}>create one</a> first.</p>}
        {order.length > 0 && (
          <table className="assignments">
            <thead>
              <tr><th scope="col">Target</th><th scope="col">Asked</th><th scope="col">Priority (1 wins ties)</th><th scope="col">Weight</th></tr>
            </thead>
            <tbody>
              {order.map((id) => (
                <tr key={id}>
                  <th scope="row">{targetName(id)}{rowErr(id, 'targetId') && <span className="field-error"> {rowErr(id, 'targetId')}</span>}</th>
                  <td><CheckField label={`Ask ${targetName(id)}`} checked={rows[id].on} onChange={(v) => setRow(id, { on: v })} /></td>
                  <td><TextField label={`${targetName(id)} priority`} value={rows[id].priority} onChange={(v) => setRow(id, { priority: v })} error={rowErr(id, 'priority')} inputMode="numeric" /></td>
                  <td><TextField label={`${targetName(id)} weight`} value={rows[id].weight} onChange={(v) => setRow(id, { weight: v })} error={rowErr(id, 'weight')} inputMode="numeric" /></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </fieldset>
      <TextField label="Bidding timeout ms" value={biddingTimeoutMs} onChange={setTimeoutMs} error={err('biddingTimeoutMs')} inputMode="numeric"
        hint="The auction's deadline, 50 to 5000 ms" />
      <TextField label="Minimum bidders" value={minBiddersRequired} onChange={setMinBidders} error={err('minBiddersRequired')} inputMode="numeric"
        hint="Fewer valid bids than this and nobody wins" />
      <TextField label="Floor price" value={floorPrice} onChange={setFloor} error={err('floorPrice')} inputMode="decimal"
        hint="Bids below this never win, such as 2.50" />
      <SelectField label="Status" value={status} onChange={setStatus} options={opts('active', 'paused', 'inactive')} error={err('status')} />
      <div className="form-actions">
        <button type="submit" disabled={!canEdit}>{router ? 'Save router' : 'Create router'}</button>
        <a href={href('rtb-routers')}>Cancel</a>
        {router && <a href={href('rtb-routers', router.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function RouterPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const { data, error, loading } = useLoad(async () => {
    const [router, targets] = await Promise.all([
      isNew ? Promise.resolve(undefined) : api.get<RtbRouter>(`/api/rtb/routers/${id}`),
      listAll<Named>('/api/rtb/targets'),
    ]);
    return { router, targets };
  }, [id]);
  return (
    <section>
      <h1>{isNew ? 'New RTB router' : `RTB router ${data?.router?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {loading && <p>Loading…</p>}
      {data && !loading && <RouterForm key={id} router={data.router} targets={data.targets} />}
    </section>
  );
}
