// An RTB router as a form: which targets bid (priority breaks ties, weight
// shares among equals), the auction's deadline, how many valid bids it needs
// and the floor price (decimal text, never a float).
import { useQueries, useQueryClient } from '@tanstack/react-query';
import { api, type FieldError } from '../api';
import { CheckField, ErrorBanner, FormBanner, SelectField, TextField, opts, text, wholeNumbers } from '../components';
import { useForm } from '../form';
import { formatMoney, isAmount } from '../money';
import { item, list } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { Named, RtbRouter } from '../types';

export type { RtbRouter };

const ROUTERS = '/api/rtb/routers';

interface Row { on: boolean; priority: string; weight: string }

interface Draft {
  name: string;
  rows: Record<string, Row>;
  /** The router's own targets first, in its order, then the others. */
  order: string[];
  biddingTimeoutMs: string;
  minBiddersRequired: string;
  floorPrice: string;
  status: string;
}

function draftOf(targets: Named[], router?: RtbRouter): Draft {
  const rows: Record<string, Row> = {};
  for (const t of targets) rows[t.id] = { on: false, priority: '1', weight: '1' };
  for (const t of router?.targets ?? []) rows[t.targetId] = { on: true, priority: String(t.priority), weight: String(t.weight) };
  const own = (router?.targets ?? []).map((t) => t.targetId);
  return {
    name: router?.name ?? '',
    rows,
    order: [...own, ...targets.map((t) => t.id).filter((id) => !own.includes(id))],
    biddingTimeoutMs: text(router?.biddingTimeoutMs ?? 1000),
    minBiddersRequired: text(router?.minBiddersRequired ?? 1),
    floorPrice: router ? formatMoney(router.floorPrice) : '0.00',
    status: router?.status ?? 'active',
  };
}

/** The targets asked, in the order sent: `targets[i]` in the API's errors. */
const chosen = (d: Draft) => d.order.filter((id) => d.rows[id]?.on);

/** The request body, or what is already wrong. */
export function routerBody(d: Draft) {
  const errors: FieldError[] = [];
  const int = wholeNumbers(errors);
  const body = {
    name: d.name.trim(),
    targets: chosen(d).map((id, i) => ({ targetId: id, priority: int(`targets[${i}].priority`, d.rows[id].priority), weight: int(`targets[${i}].weight`, d.rows[id].weight) })),
    biddingTimeoutMs: int('biddingTimeoutMs', d.biddingTimeoutMs),
    minBiddersRequired: int('minBiddersRequired', d.minBiddersRequired),
    floorPrice: d.floorPrice.trim() || '0',
    status: d.status,
  };
  if (d.floorPrice.trim() && !isAmount(d.floorPrice)) errors.push({ field: 'floorPrice', message: 'must be an amount such as 2.50 (at most two decimals)' });
  return errors.length ? { errors } : { body, errors };
}

export function RouterForm({ router, targets }: { router?: RtbRouter; targets: Named[] }) {
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => draftOf(targets, router),
    version: router?.version,
    check: routerBody,
    save: (body, version) => (router ? api.put<RtbRouter>(`${ROUTERS}/${router.id}`, body, version) : api.post<RtbRouter>(ROUTERS, body)),
    invalidates: [ROUTERS],
    onSaved: () => navigate('rtb-routers'),
    reload: router && (async () => {
      const current = await client.fetchQuery(item<RtbRouter>(ROUTERS, router.id));
      return { draft: draftOf(targets, current), version: current.version };
    }),
  });
  const { draft, set, err } = f;
  const rows = draft.rows;
  const order = draft.order;
  const sentOrder = f.submitted ? chosen(f.submitted) : [];
  const rowErr = (id: string, what: string) => {
    const i = sentOrder.indexOf(id);
    return i < 0 ? undefined : err(`targets[${i}].${what}`);
  };
  const targetName = (id: string) => targets.find((t) => t.id === id)?.name ?? `target ${id}`;

  const setRow = (id: string, patch: Partial<Row>) => f.setDraft((d) => ({ ...d, rows: { ...d.rows, [id]: { ...d.rows[id], ...patch } } }));
  return (
    <form onSubmit={f.submit} noValidate aria-label={router ? `Edit router ${router.name}` : 'New RTB router'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <TextField label="Name" value={draft.name} onChange={set('name')} error={err('name')} />
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
      <TextField label="Bidding timeout ms" value={draft.biddingTimeoutMs} onChange={set('biddingTimeoutMs')} error={err('biddingTimeoutMs')} inputMode="numeric"
        hint="The auction's deadline, 50 to 5000 ms" />
      <TextField label="Minimum bidders" value={draft.minBiddersRequired} onChange={set('minBiddersRequired')} error={err('minBiddersRequired')} inputMode="numeric"
        hint="Fewer valid bids than this and nobody wins" />
      <TextField label="Floor price" value={draft.floorPrice} onChange={set('floorPrice')} error={err('floorPrice')} inputMode="decimal"
        hint="Bids below this never win, such as 2.50" />
      <SelectField label="Status" value={draft.status} onChange={set('status')} options={opts('active', 'paused', 'inactive')} error={err('status')} />
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{router ? 'Save router' : 'Create router'}</button>
        <a href={href('rtb-routers')}>Cancel</a>
        {router && <a href={href('rtb-routers', router.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function RouterPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const [router, targets] = useQueries({ queries: [{ ...item<RtbRouter>(ROUTERS, id), enabled: !isNew }, list<Named>('/api/rtb/targets')] });
  const error = router.error ?? targets.error;
  // The form starts from the version read now, not a cached one.
  const ready = (isNew || (router.isFetchedAfterMount && !!router.data)) && !!targets.data;
  const r = isNew ? undefined : router.data;
  return (
    <section>
      <h1>{isNew ? 'New RTB router' : `RTB router ${r?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <RouterForm key={id} router={r} targets={targets.data ?? []} />}
    </section>
  );
}
