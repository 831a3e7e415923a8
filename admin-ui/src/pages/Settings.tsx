// The tenant's settings (name, the Twilio account whose webhooks are its own,
// the auth token that signs them: write-only), and the signed-in user's
// password and sessions.
import { useState, type FormEvent } from 'react';
import { ApiError, api } from '../api';
import { CheckField, ErrorBanner, TextField, useLoad } from '../components';
import { useCan } from '../role';

interface TenantView { id: string; name: string; twilioAccountSid?: string | null; twilioAuthTokenSet: boolean; version: number }
interface SessionView { id: string; createdAt: string; expiresAt: string; current: boolean }

function TenantForm({ tenant, onSaved }: { tenant: TenantView; onSaved: (t: TenantView) => void }) {
  const [name, setName] = useState(tenant.name);
  const [sid, setSid] = useState(tenant.twilioAccountSid ?? '');
  const [token, setToken] = useState('');
  const [removeToken, setRemoveToken] = useState(false);
  const [version, setVersion] = useState(tenant.version);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    setNotice(undefined);
    // Absent token: keep the stored one; empty: remove it.
    const body: Record<string, unknown> = { name: name.trim(), twilioAccountSid: sid.trim() || null };
    if (removeToken) body.twilioAuthToken = '';
    else if (token) body.twilioAuthToken = token;
    try {
      const saved = await api.put<TenantView>('/api/tenant', body, version);
      setVersion(saved.version);
      setToken('');
      setRemoveToken(false);
      setNotice('Settings saved.');
      onSaved(saved);
    } catch (e) {
      setError(e);
    }
  }

  async function reload() {
    try {
      const t = await api.get<TenantView>('/api/tenant');
      setName(t.name);
      setSid(t.twilioAccountSid ?? '');
      setVersion(t.version);
      onSaved(t);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  }

  const fe = error instanceof ApiError ? error : undefined;
  return (
    <form onSubmit={submit} aria-label="Tenant settings" noValidate>
      <h2>Tenant</h2>
      <ErrorBanner error={error} onReload={reload} />
      {notice && <p role="status" className="banner success">{notice}</p>}
      <TextField label="Tenant name" value={name} onChange={setName} error={fe?.field('name')} />
      <TextField label="Twilio account SID" value={sid} onChange={setSid} error={fe?.field('twilioAccountSid')}
        placeholder="AC…" hint="Webhooks from this Twilio account are this tenant's" />
      <TextField label="Twilio auth token" type="password" value={token} onChange={setToken} error={fe?.field('twilioAuthToken')}
        autoComplete="off"
        hint={tenant.twilioAuthTokenSet ? 'A token is set (never shown). Type a new one to replace it; leave empty to keep it.'
          : 'No token is set: webhooks are refused until one is.'} />
      {tenant.twilioAuthTokenSet && (
        <CheckField label="Remove the auth token (webhooks are then refused)" checked={removeToken} onChange={setRemoveToken} />
      )}
      <div className="form-actions"><button type="submit">Save settings</button></div>
    </form>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    setNotice(undefined);
    try {
      await api.post('/api/auth/password', { currentPassword: current, newPassword: next });
      setCurrent('');
      setNext('');
      setNotice('Password changed.');
    } catch (e) {
      setError(e);
    }
  }

  const fe = error instanceof ApiError ? error : undefined;
  return (
    <form onSubmit={submit} aria-label="Change password" noValidate>
      <h2>Your password</h2>
      <ErrorBanner error={error} />
      {notice && <p role="status" className="banner success">{notice}</p>}
      <TextField label="Current password" type="password" value={current} onChange={setCurrent} error={fe?.field('currentPassword')} autoComplete="current-password" />
      <TextField label="New password" type="password" value={next} onChange={setNext} error={fe?.field('newPassword')} autoComplete="new-password"
        hint="At least 8 characters" />
      <div className="form-actions"><button type="submit">Change password</button></div>
    </form>
  );
}

function Sessions() {
  const { data: sessions = [], error, reload } = useLoad(() => api.get<SessionView[]>('/api/auth/sessions'), []);
  const [actionError, setActionError] = useState<unknown>();

  async function end(s: SessionView) {
    setActionError(undefined);
    try {
      await api.del(`/api/auth/sessions/${encodeURIComponent(s.id)}`);
      reload();
    } catch (e) {
      setActionError(e);
    }
  }

  return (
    <section aria-label="Your sessions">
      <h2>Your sessions</h2>
      <ErrorBanner error={error ?? actionError} />
      <table>
        <thead><tr><th scope="col">Started</th><th scope="col">Expires</th><th scope="col">Actions</th></tr></thead>
        <tbody>
          {sessions.map((s) => (
            <tr key={s.id}>
              <td>{new Date(s.createdAt).toLocaleString()}{s.current && <strong> (this one)</strong>}</td>
              <td>{new Date(s.expiresAt).toLocaleString()}</td>
              <td className="actions">{!s.current && <button type="button" onClick={() => end(s)}>Sign out this session</button>}</td>
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
  const { data, error, setData } = useLoad(() => api.get<TenantView>('/api/tenant'), []);
  const saved = (t: TenantView) => {
    setData(t);
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
