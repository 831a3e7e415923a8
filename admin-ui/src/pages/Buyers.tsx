// Buyers: who takes calls, at which number, within which caps and hours.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type FieldError } from '../api';
import { CheckField, ErrorBanner, FiltersField, FormBanner, SelectField, TextField, filtersText, intOrNull, opts, parseFilters, text } from '../components';
import { useForm } from '../form';
import { formatMoney, isAmount } from '../money';
import { doc, item, list, useAction } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import { WEEKDAYS, type Buyer, type BuyerCapacity, type Schedule, type TimeWindow, type Weekday } from '../types';
import { LastWeek } from './Reports';

const BUYERS = '/api/buyers';

const caps = (b: Buyer) =>
  [
    b.concurrencyLimit !== null && `${b.concurrencyLimit} at once`,
    b.hourlyCap !== null && `${b.hourlyCap}/hour`,
    b.dailyCap !== null && `${b.dailyCap}/day`,
    b.monthlyCap !== null && `${b.monthlyCap}/month`,
    b.totalCap !== null && `${b.totalCap} total`,
  ].filter(Boolean).join(', ') || 'none';

export function BuyerList() {
  const canEdit = useCan('manager');
  const { data, error, isPending: loading, refetch } = useQuery(list<Buyer>(BUYERS));
  const del = useAction((b: Buyer) => api.del(`${BUYERS}/${b.id}`, b.version), [BUYERS]);

  function remove(b: Buyer) {
    if (!window.confirm(`Delete buyer ${b.name}?`)) return;
    void del.run(b);
  }

  return (
    <section>
      <header className="page-head">
        <h1>Buyers</h1>
        {canEdit && <a className="button" href={href('buyers', 'new')}>New buyer</a>}
      </header>
      {/* Reloading answers a stale action: its message goes with the old list. */}
      <ErrorBanner error={error ?? del.error} onReload={() => { del.clear(); void refetch(); }} />
      <p className="hint">Today's calls per buyer (live now, routed, converted, revenue): <a href={href('today')}>Today</a>.</p>
      {loading && !data && <p>Loading…</p>}
      {data && data.length === 0 && <p>No buyers yet.</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Phone</th>
              <th scope="col">Status</th>
              <th scope="col">Caps</th>
              <th scope="col">Revenue</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {data.map((b) => (
              <tr key={b.id}>
                <td><a href={href('buyers', b.id)}>{b.name}</a>{b.company && b.company !== b.name && <small> ({b.company})</small>}</td>
                <td>{b.phoneNumber}</td>
                <td><span className={`status ${b.status}`}>{b.status}</span></td>
                <td>{caps(b)}</td>
                <td>{formatMoney(b.revenue)} {b.currency}</td>
                <td className="actions">
                  <a href={href('buyers', b.id)}>{canEdit ? 'Edit' : 'View'}</a>
                  {canEdit && <button type="button" disabled={del.busy} onClick={() => remove(b)} aria-label={`Delete ${b.name}`}>Delete</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The form's state: every field as text, as the inputs hold it. */
interface BuyerDraft {
  name: string;
  company: string;
  contact: string;
  phoneNumber: string;
  status: string;
  timezone: string;
  concurrencyLimit: string;
  hourlyCap: string;
  dailyCap: string;
  monthlyCap: string;
  totalCap: string;
  conversionSeconds: string;
  revenue: string;
  currency: string;
  allowStates: string;
  denyStates: string;
  allowZips: string;
  denyZips: string;
  /** Tag filters, a line each (`language in es`). */
  filters: string;
  useSchedule: boolean;
  /** One window per day; empty open and close: closed. */
  hours: Record<Weekday, { open: string; close: string }>;
  /** Windows after the first of a day, kept as they are (the form edits one per day). */
  extraWindows: Partial<Record<Weekday, TimeWindow[]>>;
}

const browserZone = () => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'America/New_York';
  } catch {
    return 'America/New_York';
  }
};

export function draftOf(b?: Buyer): BuyerDraft {
  const hours = {} as BuyerDraft['hours'];
  const extraWindows: BuyerDraft['extraWindows'] = {};
  for (const d of WEEKDAYS) {
    const windows = b?.schedule?.[d] ?? [];
    hours[d] = { open: windows[0]?.open ?? (b?.schedule ? '' : '09:00'), close: windows[0]?.close ?? (b?.schedule ? '' : '17:00') };
    if (windows.length > 1) extraWindows[d] = windows.slice(1);
  }
  const list = (xs?: string[]) => (xs ?? []).join(', ');
  return {
    name: b?.name ?? '',
    company: b?.company ?? '',
    contact: b?.contact ?? '',
    phoneNumber: b?.phoneNumber ?? '',
    status: b?.status ?? 'active',
    timezone: b?.timezone ?? browserZone(),
    concurrencyLimit: text(b?.concurrencyLimit),
    hourlyCap: text(b?.hourlyCap),
    dailyCap: text(b?.dailyCap),
    monthlyCap: text(b?.monthlyCap),
    totalCap: text(b?.totalCap),
    conversionSeconds: text(b?.conversionSeconds ?? 60),
    revenue: b ? formatMoney(b.revenue) : '0.00',
    currency: b?.currency ?? 'USD',
    allowStates: list(b?.geo?.allowStates),
    denyStates: list(b?.geo?.denyStates),
    allowZips: list(b?.geo?.allowZips),
    denyZips: list(b?.geo?.denyZips),
    filters: filtersText(b?.filters),
    useSchedule: !!b?.schedule,
    hours,
    extraWindows,
  };
}

const words = (s: string) => s.split(',').map((w) => w.trim()).filter(Boolean);

/** The request body for a draft, or the fields the browser can already tell are wrong. */
export function bodyOf(d: BuyerDraft): { body?: Record<string, unknown>; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const int = (field: keyof BuyerDraft & string, required = false) => {
    const v = intOrNull(d[field] as string);
    if (Number.isNaN(v)) errors.push({ field, message: 'must be a whole number' });
    if (v === null && required) errors.push({ field, message: 'is required' });
    return v;
  };
  const body: Record<string, unknown> = {
    name: d.name.trim(),
    company: d.company.trim(),
    contact: d.contact.trim(),
    phoneNumber: d.phoneNumber.trim(),
    status: d.status,
    timezone: d.timezone.trim(),
    concurrencyLimit: int('concurrencyLimit'),
    hourlyCap: int('hourlyCap'),
    dailyCap: int('dailyCap'),
    monthlyCap: int('monthlyCap'),
    totalCap: int('totalCap'),
    conversionSeconds: int('conversionSeconds', true),
    // Money travels as decimal text: the server parses it exactly.
    revenue: d.revenue.trim() === '' ? '0' : d.revenue.trim(),
    currency: d.currency,
    geo: { allowStates: words(d.allowStates), denyStates: words(d.denyStates), allowZips: words(d.allowZips), denyZips: words(d.denyZips) },
    filters: parseFilters(d.filters),
  };
  if (d.revenue.trim() !== '' && !isAmount(d.revenue)) {
    errors.push({ field: 'revenue', message: 'must be an amount such as 25.00 (at most two decimals)' });
  }
  if (d.useSchedule) {
    const schedule: Schedule = {};
    for (const day of WEEKDAYS) {
      const { open, close } = d.hours[day];
      const windows: TimeWindow[] = [];
      if (open || close) windows.push({ open, close });
      schedule[day] = [...windows, ...(d.extraWindows[day] ?? [])];
    }
    body.schedule = schedule;
  } else {
    body.schedule = null;
  }
  return errors.length ? { errors } : { body, errors };
}

export function BuyerForm({ buyer, onSaved }: { buyer?: Buyer; onSaved: (b: Buyer) => void }) {
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => draftOf(buyer),
    version: buyer?.version,
    check: bodyOf,
    save: (body, version) => (buyer ? api.put<Buyer>(`${BUYERS}/${buyer.id}`, body, version) : api.post<Buyer>(BUYERS, body)),
    invalidates: [BUYERS],
    onSaved,
    reload: buyer && (async () => {
      const current = await client.fetchQuery(item<Buyer>(BUYERS, buyer.id));
      return { draft: draftOf(current), version: current.version };
    }),
  });
  const { draft, setDraft, set, err } = f;
  const dayErr = (day: Weekday) => f.errUnder(`schedule.${day}`);

  return (
    <form onSubmit={f.submit} noValidate aria-label={buyer ? `Edit buyer ${buyer.name}` : 'New buyer'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <fieldset>
        <legend>Buyer</legend>
        <TextField label="Name" value={draft.name} onChange={set('name')} error={err('name')} required />
        <TextField label="Company" value={draft.company} onChange={set('company')} error={err('company')} />
        <TextField label="Contact" value={draft.contact} onChange={set('contact')} error={err('contact')} />
        <TextField label="Phone number" value={draft.phoneNumber} onChange={set('phoneNumber')} error={err('phoneNumber')}
          type="tel" hint="E.164, such as +15550002001" required />
        <SelectField label="Status" value={draft.status} onChange={set('status')} options={opts('active', 'paused', 'inactive')} error={err('status')} />
        <TextField label="Time zone" value={draft.timezone} onChange={set('timezone')} error={err('timezone')}
          hint="IANA name, such as America/New_York: caps reset and hours apply in it" required />
      </fieldset>
      <fieldset>
        <legend>Caps (empty: no limit)</legend>
        <TextField label="Concurrency limit" value={draft.concurrencyLimit} onChange={set('concurrencyLimit')} error={err('concurrencyLimit')} inputMode="numeric" />
        <TextField label="Hourly cap" value={draft.hourlyCap} onChange={set('hourlyCap')} error={err('hourlyCap')} inputMode="numeric" />
        <TextField label="Daily cap" value={draft.dailyCap} onChange={set('dailyCap')} error={err('dailyCap')} inputMode="numeric" />
        <TextField label="Monthly cap" value={draft.monthlyCap} onChange={set('monthlyCap')} error={err('monthlyCap')} inputMode="numeric" />
        <TextField label="Total cap" value={draft.totalCap} onChange={set('totalCap')} error={err('totalCap')} inputMode="numeric" />
      </fieldset>
      <fieldset>
        <legend>Revenue</legend>
        <TextField label="Revenue" value={draft.revenue} onChange={set('revenue')} error={err('revenue')} inputMode="decimal"
          hint="What the buyer pays per converted call, such as 25.00" />
        <SelectField label="Currency" value={draft.currency} onChange={set('currency')} options={opts('USD', 'CAD', 'EUR', 'GBP', 'AUD')} error={err('currency')} />
        <TextField label="Conversion seconds" value={draft.conversionSeconds} onChange={set('conversionSeconds')} error={err('conversionSeconds')}
          inputMode="numeric" hint="Talk time after which a call counts as converted" />
      </fieldset>
      <fieldset>
        <legend>Caller geography (comma-separated; empty: any)</legend>
        <TextField label="Allowed states" value={draft.allowStates} onChange={set('allowStates')} error={err('geo.allowStates')} placeholder="CA, NY" />
        <TextField label="Denied states" value={draft.denyStates} onChange={set('denyStates')} error={err('geo.denyStates')} />
        <TextField label="Allowed ZIP prefixes" value={draft.allowZips} onChange={set('allowZips')} error={err('geo.allowZips')} />
        <TextField label="Denied ZIP prefixes" value={draft.denyZips} onChange={set('denyZips')} error={err('geo.denyZips')} />
      </fieldset>
      <fieldset>
        <legend>Call tags</legend>
        <FiltersField value={draft.filters} onChange={set('filters')} error={f.errUnder('filters', true)} />
      </fieldset>
      <fieldset>
        <legend>Hours</legend>
        <CheckField label="Take calls only during opening hours" checked={draft.useSchedule} onChange={set('useSchedule')} error={err('schedule')} />
        {draft.useSchedule && (
          <table className="schedule">
            <thead>
              <tr><th scope="col">Day</th><th scope="col">Opens</th><th scope="col">Closes</th></tr>
            </thead>
            <tbody>
              {WEEKDAYS.map((day) => (
                <tr key={day}>
                  <th scope="row">{day}</th>
                  {(['open', 'close'] as const).map((which) => (
                    <td key={which}>
                      <TextField
                        label={`${day} ${which === 'open' ? 'opens' : 'closes'}`}
                        value={draft.hours[day][which]}
                        placeholder={which === 'open' ? '09:00' : '17:00'}
                        onChange={(v) => setDraft((d) => ({ ...d, hours: { ...d.hours, [day]: { ...d.hours[day], [which]: v } } }))}
                        error={which === 'close' ? dayErr(day) : undefined}
                      />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {draft.useSchedule && <p className="hint">Leave both times empty for a closed day; close at 24:00 to stay open until midnight.</p>}
      </fieldset>
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{buyer ? 'Save buyer' : 'Create buyer'}</button>
        <a href={href('buyers')}>Cancel</a>
      </div>
    </form>
  );
}

export function CapacityNow({ id }: { id: string }) {
  const { data, error, isPending: loading, refetch, isFetching } = useQuery(doc<BuyerCapacity>([BUYERS, id, 'stats'], `${BUYERS}/${id}/stats`));
  const rows: [string, number, number | null][] = data
    ? [
        ['On calls now', data.active, data.concurrencyLimit],
        ['This hour', data.hour, data.hourlyCap],
        ['Today', data.day, data.dailyCap],
        ['This month', data.month, data.monthlyCap],
        ['Ever', data.total, data.totalCap],
      ]
    : [];
  return (
    <section aria-labelledby="capacity-now">
      <header className="page-head">
        <h2 id="capacity-now">Capacity now</h2>
        <button type="button" onClick={() => void refetch()} disabled={isFetching}>Refresh</button>
      </header>
      <ErrorBanner error={error} />
      {loading && !data && <p>Loading…</p>}
      {data && (
        <table>
          <thead>
            <tr>
              <th scope="col">Calls</th>
              <th scope="col">Counted</th>
              <th scope="col">Cap</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([label, used, cap]) => (
              <tr key={label} className={cap !== null && used >= cap ? 'at-cap' : undefined}>
                <th scope="row">{label}</th>
                <td>{used}</td>
                <td>{cap === null ? 'none' : cap}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function BuyerPage({ id }: { id: string }) {
  const isNew = id === 'new';
  // The form starts from the version read now, not a cached one.
  const { data, error, isFetchedAfterMount } = useQuery({ ...item<Buyer>(BUYERS, id), enabled: !isNew });
  const ready = isNew || (isFetchedAfterMount && !!data);
  return (
    <section>
      <h1>{isNew ? 'New buyer' : `Buyer ${data?.name ?? ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {!isNew && ready && <CapacityNow id={id} />}
      {!isNew && ready && <LastWeek filter={{ buyerId: id }} label={`Calls ${data?.name ?? 'the buyer'} took, last 7 days`} />}
      {ready && <BuyerForm key={id} buyer={data} onSaved={() => navigate('buyers')} />}
    </section>
  );
}
