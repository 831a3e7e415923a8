// The blocklist: callers refused before any buyer is asked. An entry blocks
// one number, every number under a prefix, or withheld callers, tenant-wide
// or on one campaign, until it expires. Its list is read a page at a time
// (a list can be long), with the CSV import below it; its form; and the
// "Block this caller" action of a call's details. The JSON editor is the
// shared one (`Resources.tsx`).
import { useState } from 'react';
import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, api, type FieldError } from '../api';
import { ErrorBanner, Field, FormBanner, SelectField, TextField } from '../components';
import { useForm } from '../form';
import { item, list, useAction, usePaged } from '../query';
import { useCan } from '../role';
import { href, navigate } from '../route';
import type { BlocklistEntry, CallRecord, Named } from '../types';

export type { BlocklistEntry };

export const BLOCKLIST = '/api/blocklist';

type Kind = 'number' | 'prefix' | 'anonymous';

interface Draft {
  kind: Kind;
  value: string;
  campaignId: string;
  /** `datetime-local` text in the browser's zone; empty: never. */
  expiresAt: string;
  note: string;
}

/** An RFC 3339 time as `datetime-local` text in the browser's zone. */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** `datetime-local` text as RFC 3339 UTC; undefined when it is no time. */
function fromLocalInput(local: string): string | undefined {
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** Who an entry blocks, as people read it. */
export function blocked(e: Pick<BlocklistEntry, 'number' | 'prefix' | 'anonymous'>): string {
  if (e.anonymous) return 'withheld numbers (anonymous)';
  if (e.prefix) return `${e.prefix}…`;
  return e.number ?? '—';
}

/** Whether an entry still blocks at `now`. */
export function expiry(e: Pick<BlocklistEntry, 'expiresAt'>, now = new Date()): string {
  if (!e.expiresAt) return 'never';
  const at = new Date(e.expiresAt);
  return at <= now ? `expired ${at.toLocaleString()}` : at.toLocaleString();
}

const draftOf = (e?: BlocklistEntry): Draft => ({
  kind: e?.anonymous ? 'anonymous' : e?.prefix ? 'prefix' : 'number',
  value: e?.prefix ?? e?.number ?? '',
  campaignId: e?.campaignId ?? '',
  expiresAt: toLocalInput(e?.expiresAt),
  note: e?.note ?? '',
});

/** The request body, or what is already wrong. */
export function entryBody(d: Draft) {
  const errors: FieldError[] = [];
  const value = d.value.trim();
  if (d.kind !== 'anonymous' && !value) errors.push({ field: d.kind, message: `enter a ${d.kind === 'number' ? 'phone number' : 'prefix such as +1900'}` });
  const expiresAt = d.expiresAt ? fromLocalInput(d.expiresAt) : null;
  if (expiresAt === undefined) errors.push({ field: 'expiresAt', message: 'is not a date and time' });
  const body = {
    number: d.kind === 'number' ? value : null,
    prefix: d.kind === 'prefix' ? value : null,
    anonymous: d.kind === 'anonymous',
    campaignId: d.campaignId || null,
    expiresAt: expiresAt ?? null,
    note: d.note.trim() || null,
  };
  return errors.length ? { errors } : { body, errors };
}

/** Which entries the list shows: '' every one, 'tenant' tenant-wide ones, or a campaign's id. */
export function listQuery(scope: string) {
  if (scope === 'tenant') return { tenantWide: 'true' };
  return scope ? { campaignId: scope } : {};
}

export function BlocklistList() {
  const canEdit = useCan('manager');
  const campaigns = useQuery(list<Named>('/api/campaigns'));
  const [scope, setScope] = useState('');
  const { items, hasMore, error, loading, more } = usePaged<BlocklistEntry>(BLOCKLIST, listQuery(scope));
  const action = useAction((e: BlocklistEntry) => api.del(`${BLOCKLIST}/${e.id}`, e.version), [BLOCKLIST]);
  const campaignName = (id: string) => campaigns.data?.find((c) => c.id === id)?.name ?? id.slice(0, 8);

  function remove(e: BlocklistEntry) {
    if (!window.confirm(`Unblock ${blocked(e)}?`)) return;
    void action.run(e);
  }

  return (
    <section>
      <header className="page-head">
        <h1>Blocklist</h1>
        {canEdit && <a className="button" href={href('blocklist', 'new')}>Block a caller</a>}
      </header>
      <SelectField label="Show" value={scope} onChange={setScope}
        options={[{ value: '', label: 'every entry' }, { value: 'tenant', label: 'entries for every campaign' },
          ...(campaigns.data ?? []).map((c) => ({ value: c.id, label: `entries of campaign ${c.name}` }))]} />
      <ErrorBanner error={error ?? action.error ?? campaigns.error} />
      {!loading && items.length === 0 && !error && <p>Nobody is blocked.</p>}
      {items.length > 0 && (
        <table>
          <thead>
            <tr><th scope="col">Blocks</th><th scope="col">Campaign</th><th scope="col">Expires</th><th scope="col">Note</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.id}>
                <td>{blocked(e)}</td>
                <td>{e.campaignId ? campaignName(e.campaignId) : 'every campaign'}</td>
                <td>{expiry(e)}</td>
                <td>{e.note ?? '—'}</td>
                <td className="actions">
                  <a href={href('blocklist', e.id)}>{canEdit ? 'Edit' : 'View'}</a>
                  {canEdit && <button type="button" disabled={action.busy} onClick={() => remove(e)}>Delete</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {loading && <p>Loading…</p>}
      {hasMore && !loading && <button type="button" onClick={more}>More entries</button>}
      {canEdit && <BlocklistImport />}
    </section>
  );
}

export function BlocklistForm({ entry, campaigns }: { entry?: BlocklistEntry; campaigns: Named[] }) {
  const canEdit = useCan('manager');
  const client = useQueryClient();
  const f = useForm({
    initial: () => draftOf(entry),
    version: entry?.version,
    check: entryBody,
    save: (body, version) => (entry ? api.put<BlocklistEntry>(`${BLOCKLIST}/${entry.id}`, body, version) : api.post<BlocklistEntry>(BLOCKLIST, body)),
    invalidates: [BLOCKLIST],
    onSaved: () => navigate('blocklist'),
    reload: entry && (async () => {
      const current = await client.fetchQuery(item<BlocklistEntry>(BLOCKLIST, entry.id));
      return { draft: draftOf(current), version: current.version };
    }),
  });
  const { draft, set, err } = f;

  return (
    <form onSubmit={f.submit} noValidate aria-label={entry ? 'Edit blocklist entry' : 'New blocklist entry'}>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} readOnly={!canEdit} />
      <SelectField label="What to block" value={draft.kind} onChange={(v) => set('kind')(v as Kind)}
        options={[{ value: 'number', label: 'one number' }, { value: 'prefix', label: 'every number starting with a prefix' },
          { value: 'anonymous', label: 'callers who withhold their number' }]} />
      {draft.kind !== 'anonymous' && (
        <TextField label={draft.kind === 'number' ? 'Phone number' : 'Prefix'} type="tel" value={draft.value} onChange={set('value')}
          error={err(draft.kind)} placeholder={draft.kind === 'number' ? '+15551230000' : '+1900'}
          hint={draft.kind === 'number' ? 'E.164, or as people write it: (555) 123-0000' : '+ and digits: every caller whose number starts with it'} />
      )}
      <SelectField label="Campaign" value={draft.campaignId} onChange={set('campaignId')} error={err('campaignId')}
        options={[{ value: '', label: 'every campaign' }, ...campaigns.map((c) => ({ value: c.id, label: c.name }))]} />
      <TextField label="Expires" type="datetime-local" value={draft.expiresAt} onChange={set('expiresAt')} error={err('expiresAt')}
        hint="Empty: blocked until the entry is deleted" />
      <TextField label="Note" value={draft.note} onChange={set('note')} error={err('note')} hint="Why, for your team" />
      <div className="form-actions">
        <button type="submit" disabled={f.saving || !canEdit}>{entry ? 'Save entry' : 'Block'}</button>
        <a href={href('blocklist')}>Cancel</a>
        {entry && <a href={href('blocklist', entry.id, 'json')}>Edit as JSON</a>}
      </div>
    </form>
  );
}

export function BlocklistPage({ id }: { id: string }) {
  const isNew = id === 'new';
  const [entry, campaigns] = useQueries({
    queries: [{ ...item<BlocklistEntry>(BLOCKLIST, id), enabled: !isNew }, list<Named>('/api/campaigns')],
  });
  const error = entry.error ?? campaigns.error;
  // The form starts from the version read now, not a cached one.
  const ready = (isNew || (entry.isFetchedAfterMount && !!entry.data)) && !!campaigns.data;
  return (
    <section>
      <h1>{isNew ? 'Block a caller' : `Blocklist entry ${entry.data ? blocked(entry.data) : ''}`}</h1>
      <ErrorBanner error={error} />
      {!ready && !error && <p>Loading…</p>}
      {ready && <BlocklistForm key={id} entry={isNew ? undefined : entry.data} campaigns={campaigns.data ?? []} />}
    </section>
  );
}

/** What `POST /api/blocklist/import` answers. */
export interface ImportResult {
  imported: number;
  refused: { line: number; reason: string }[];
}

/** Many entries at once, from CSV lines `number_or_prefix,note,expiresAt`. */
export function BlocklistImport() {
  const campaigns = useQuery(list<Named>('/api/campaigns'));
  const [csv, setCsv] = useState('');
  const [campaignId, setCampaignId] = useState('');
  const [result, setResult] = useState<ImportResult>();
  const action = useAction(async (body: string) => {
    setResult(undefined);
    setResult(await api.postText<ImportResult>(`${BLOCKLIST}/import`, body, 'text/csv', { campaignId: campaignId || undefined }));
  }, [BLOCKLIST]);
  return (
    <section aria-label="Import" className="detail">
      <h2>Import</h2>
      <form onSubmit={(e) => { e.preventDefault(); if (csv.trim()) void action.run(csv); }}>
        <Field label="CSV lines" hint="number_or_prefix,note,expiresAt — a number (+15551230000), a prefix (+1900, or +4420* for a longer one) or anonymous; note and expiresAt (2027-01-31 or RFC 3339) may be empty">
          {(a) => <textarea {...a} rows={6} spellCheck={false} value={csv} onChange={(e) => setCsv(e.target.value)} className="json" />}
        </Field>
        <SelectField label="Blocks on" value={campaignId} onChange={setCampaignId}
          options={[{ value: '', label: 'every campaign' }, ...(campaigns.data ?? []).map((c) => ({ value: c.id, label: c.name }))]} />
        <div className="form-actions">
          <button type="submit" disabled={action.busy || !csv.trim()}>{action.busy ? 'Importing…' : 'Import'}</button>
        </div>
      </form>
      <ErrorBanner error={action.error ?? campaigns.error} />
      {result && (
        <div role="status">
          <p><strong data-testid="imported">{result.imported}</strong> imported, {result.refused.length} refused.</p>
          {result.refused.length > 0 && (
            <ul>{result.refused.map((r) => <li key={r.line}>line {r.line}: {r.reason}</li>)}</ul>
          )}
        </div>
      )}
    </section>
  );
}

/** A call's caller as a tenant-wide blocklist entry, from its details. */
export function BlockCaller({ call }: { call: Pick<CallRecord, 'from' | 'callSid'> }) {
  const canEdit = useCan('manager');
  const [done, setDone] = useState<string>();
  const action = useAction(async () => {
    try {
      await api.post(BLOCKLIST, { number: call.from, note: `blocked from call ${call.callSid}` });
      setDone(`Blocked: calls from ${call.from} are refused from now on.`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        setDone(`${call.from} is on the blocklist already.`);
        return;
      }
      throw e;
    }
  }, [BLOCKLIST]);
  if (!canEdit) return null;
  if (!/^\+[1-9]\d{7,14}$/.test(call.from)) return <p>The caller withheld their number: block withheld callers from the <a href={href('blocklist', 'new')}>blocklist</a>.</p>;
  if (done) return <p role="status">{done} <a href={href('blocklist')}>Blocklist</a></p>;
  return (
    <div>
      <button type="button" disabled={action.busy} onClick={() => void action.run(undefined)}>Block this caller</button>
      <ErrorBanner error={action.error} />
    </div>
  );
}
