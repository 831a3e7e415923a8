// The tenant's settings (name, the Twilio account whose webhooks are its own,
// the auth token that signs them: write-only), and the signed-in user's
// password and sessions.
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api';
import { CheckField, ErrorBanner, FormBanner, TextField } from '../components';
import { useForm } from '../form';
import { doc, useAction } from '../query';
import { useCan } from '../role';
import type { SessionView, TenantView } from '../types';

const TENANT = '/api/tenant';
const SESSIONS = '/api/auth/sessions';
const tenantQuery = doc<TenantView>([TENANT], TENANT);

const tenantDraft = (t: TenantView) => ({ name: t.name, sid: t.twilioAccountSid ?? '', timezone: t.timezone, token: '', removeToken: false,
  wholeCallers: t.publisherSeesCallerNumbers ?? false });

function TenantForm({ tenant, onSaved }: { tenant: TenantView; onSaved: (t: TenantView) => void }) {
  const client = useQueryClient();
  const [notice, setNotice] = useState<string>();
  const f = useForm({
    initial: () => tenantDraft(tenant),
    version: tenant.version,
    check: (d) => {
      // Absent token: keep the stored one; empty: remove it.
      const body: Record<string, unknown> = { name: d.name.trim(), twilioAccountSid: d.sid.trim() || null, timezone: d.timezone.trim() || null,
        publisherSeesCallerNumbers: d.wholeCallers };
      if (d.removeToken) body.twilioAuthToken = '';
      else if (d.token) body.twilioAuthToken = d.token;
      return { body, errors: [] };
    },
    save: (body, version) => api.put<TenantView>(TENANT, body, version),
    invalidates: [TENANT],
    onSaved: (saved) => {
      f.setDraft((d) => ({ ...d, token: '', removeToken: false }));
      setNotice('Settings saved.');
      onSaved(saved);
    },
    reload: async () => {
      const t = await client.fetchQuery(tenantQuery);
      onSaved(t);
      return { draft: tenantDraft(t), version: t.version };
    },
  });
  const { draft, set, err } = f;

  return (
    <form onSubmit={(e) => { setNotice(undefined); void f.submit(e); }} aria-label="Tenant settings" noValidate>
      <h2>Tenant</h2>
      <FormBanner error={f.error} localErrors={f.localErrors} onReload={f.reload} />
      {notice && <p role="status" className="banner success">{notice}</p>}
      <TextField label="Tenant name" value={draft.name} onChange={set('name')} error={err('name')} />
      <TextField label="Time zone" value={draft.timezone} onChange={set('timezone')} error={err('timezone')}
        hint="IANA time zone of the tenant's days and months (publishers' daily and monthly caps), such as America/New_York" />
      <TextField label="Twilio account SID" value={draft.sid} onChange={set('sid')} error={err('twilioAccountSid')}
        placeholder="AC…" hint="Webhooks from this Twilio account are this tenant's" />
      <TextField label="Twilio auth token" type="password" value={draft.token} onChange={set('token')} error={err('twilioAuthToken')}
        autoComplete="off"
        hint={tenant.twilioAuthTokenSet ? 'A token is set (never shown). Type a new one to replace it; leave empty to keep it.'
          : 'No token is set: webhooks are refused until one is.'} />
      {tenant.twilioAuthTokenSet && (
        <CheckField label="Remove the auth token (webhooks are then refused)" checked={draft.removeToken} onChange={set('removeToken')} />
      )}
      <CheckField label="Publishers see their callers' whole numbers (otherwise only the last 4 digits)" checked={draft.wholeCallers}
        onChange={set('wholeCallers')} error={err('publisherSeesCallerNumbers')} />
      <div className="form-actions"><button type="submit" disabled={f.saving}>Save settings</button></div>
    </form>
  );
}

function PasswordForm() {
  const [notice, setNotice] = useState<string>();
  const f = useForm({
    initial: () => ({ current: '', next: '' }),
    check: (d) => ({ body: { currentPassword: d.current, newPassword: d.next }, errors: [] }),
    save: (body) => api.post('/api/auth/password', body),
    invalidates: [SESSIONS],
    onSaved: () => {
      f.setDraft({ current: '', next: '' });
      setNotice('Password changed.');
    },
  });

  return (
    <form onSubmit={(e) => { setNotice(undefined); void f.submit(e); }} aria-label="Change password" noValidate>
      <h2>Your password</h2>
      <FormBanner error={f.error} localErrors={f.localErrors} />
      {notice && <p role="status" className="banner success">{notice}</p>}
      <TextField label="Current password" type="password" value={f.draft.current} onChange={f.set('current')} error={f.err('currentPassword')} autoComplete="current-password" />
      <TextField label="New password" type="password" value={f.draft.next} onChange={f.set('next')} error={f.err('newPassword')} autoComplete="new-password"
        hint="At least 8 characters" />
      <div className="form-actions"><button type="submit" disabled={f.saving}>Change password</button></div>
    </form>
  );
}

function Sessions() {
  const { data: sessions = [], error } = useQuery(doc<SessionView[]>([SESSIONS], SESSIONS));
  const end = useAction((s: SessionView) => api.del(`${SESSIONS}/${encodeURIComponent(s.id)}`), [SESSIONS]);

  return (
    <section aria-label="Your sessions">
      <h2>Your sessions</h2>
      <ErrorBanner error={error ?? end.error} />
      <table>
        <thead><tr><th scope="col">Started</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id}>
              <td>{new Date(s.createdAt).toLocaleString()}{s.current && <strong> (this one)</strong>}</td>
              <td>{new Date(s.expiresAt).toLocaleString()}</td>
              <td className="actions">{!s.current && <button type="button" disabled={end.busy} onClick={() => void end.run(s)}>Sign out this session</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** `onTenant`: the tenant's name changed (the header shows it). */
export function SettingsPage({ onTenant }: { onTenant?: (name: string) => void }) {
  const isAdmin = useCan('admin');
  const client = useQueryClient();
  const { data, error } = useQuery(tenantQuery);
  const saved = (t: TenantView) => {
    client.setQueryData(tenantQuery.queryKey, t);
    onTenant?.(t.name);
  };
  return (
    <section>
      <h1>Settings</h1>
      <ErrorBanner error={error} />
      {data && isAdmin && <TenantForm tenant={data} onSaved={saved} />}
      {data && !isAdmin && <p>Tenant <strong>{data.name}</strong>; its settings are changed by admins and owners.</p>}
      <PasswordForm />
      <Sessions />
    </section>
  );
}
