// API keys (shown once at creation, revoked by deleting) and the tenant's
// users (role changes and password resets carry the version loaded).
import { useState, type FormEvent } from 'react';
import { ApiError, api } from '../api';
import { ErrorBanner, SelectField, TextField, opts, useLoad, listAll } from '../components';
import { useCan } from '../role';

const ROLES = opts('viewer', 'manager', 'admin', 'owner');

interface ApiKey { id: string; name: string; role: string; prefix: string; createdBy: string; createdAt: string }
interface UserView { id: string; username: string; role: string; createdAt: string; version: number }

export function ApiKeysPage() {
  const isAdmin = useCan('admin');
  const { data, error, reload } = useLoad(() => listAll<ApiKey>('/api/api-keys'), []);
  const [name, setName] = useState('');
  const [role, setRole] = useState('manager');
  const [created, setCreated] = useState<{ name: string; key: string }>();
  const [formError, setFormError] = useState<unknown>();
  const [actionError, setActionError] = useState<unknown>();

  async function create(e: FormEvent) {
    e.preventDefault();
    setFormError(undefined);
    try {
      const k = await api.post<ApiKey & { key: string }>('/api/api-keys', { name: name.trim(), role });
      setCreated({ name: k.name, key: k.key });
      setName('');
      reload();
    } catch (e) {
      setFormError(e);
    }
  }

  async function revoke(k: ApiKey) {
    if (!window.confirm(`Revoke the key ${k.name}? Clients using it are refused at once.`)) return;
    setActionError(undefined);
    try {
      await api.del(`/api/api-keys/${k.id}`);
      reload();
    } catch (e) {
      setActionError(e);
    }
  }

  const fe = formError instanceof ApiError ? formError : undefined;
  return (
    <section>
      <h1>API keys</h1>
      <ErrorBanner error={error ?? actionError} />
      {created && (
        <div className="banner success" role="status">
          <p>The key <strong>{created.name}</strong> — copy it now, it is not shown again:</p>
          <p><code className="secret" aria-label="New API key secret">{created.key}</code></p>
          <p>Send it as <code>Authorization: Bearer …</code>.</p>
          <button type="button" onClick={() => setCreated(undefined)}>I copied it</button>
        </div>
      )}
      {data && data.length === 0 && <p>No API keys.</p>}
      {data && data.length > 0 && (
        <table>
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Role</th><th scope="col">Created by</th><th scope="col">Created</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td><code>{k.prefix}…</code></td>
                <td>{k.role}</td>
                <td>{k.createdBy}</td>
                <td>{new Date(k.createdAt).toLocaleString()}</td>
                <td className="actions"><button type="button" onClick={() => revoke(k)} aria-label={`Revoke ${k.name}`}>Revoke</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!isAdmin && <p className="banner" role="note">API keys are managed by admins and owners.</p>}
      {isAdmin && <form onSubmit={create} aria-label="New API key" noValidate>
        <h2>New API key</h2>
        <ErrorBanner error={formError} />
        <TextField label="Key name" value={name} onChange={setName} error={fe?.field('name')} hint="What it is for, to tell keys apart" />
        <SelectField label="Key role" value={role} onChange={setRole} options={ROLES} error={fe?.field('role')} hint="At most your own role" />
        <div className="form-actions"><button type="submit">Create key</button></div>
      </form>}
    </section>
  );
}

function UserRow({ user, onChanged }: { user: UserView; onChanged: (notice?: string) => void }) {
  const [role, setRole] = useState(user.role);
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>();

  async function save(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    try {
      const body: Record<string, unknown> = { role };
      if (password) body.password = password;
      await api.put(`/api/users/${user.id}`, body, user.version);
      onChanged(`Saved ${user.username}: role ${role}${password ? ', new password' : ''}.`);
    } catch (e) {
      setError(e);
    }
  }

  async function remove() {
    if (!window.confirm(`Delete the user ${user.username}?`)) return;
    setError(undefined);
    try {
      await api.del(`/api/users/${user.id}`, user.version);
      onChanged(`Deleted ${user.username}.`);
    } catch (e) {
      setError(e);
    }
  }

  const fe = error instanceof ApiError ? error : undefined;
  return (
    <tr>
      <th scope="row">{user.username}</th>
      <td>
        <form className="inline" onSubmit={save} aria-label={`Edit ${user.username}`} noValidate>
          <SelectField label={`${user.username} role`} value={role} onChange={setRole} options={ROLES} error={fe?.field('role')} />
          <TextField label={`${user.username} new password`} type="password" value={password} onChange={setPassword}
            error={fe?.field('password')} autoComplete="new-password" />
          <button type="submit">Save</button>
          <button type="button" onClick={remove}>Delete</button>
        </form>
        <ErrorBanner error={error} onReload={() => onChanged()} />
      </td>
      <td>{new Date(user.createdAt).toLocaleString()}</td>
    </tr>
  );
}

export function UsersPage() {
  const isAdmin = useCan('admin');
  const { data, error, reload } = useLoad(() => listAll<UserView>('/api/users'), []);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState('viewer');
  const [formError, setFormError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const changed = (n?: string) => {
    setNotice(n);
    reload();
  };

  async function create(e: FormEvent) {
    e.preventDefault();
    setFormError(undefined);
    try {
      await api.post('/api/users', { username: username.trim(), password, role });
      setNotice(`Created ${username.trim()}.`);
      setUsername('');
      setPassword('');
      reload();
    } catch (e) {
      setFormError(e);
    }
  }

  const fe = formError instanceof ApiError ? formError : undefined;
  return (
    <section>
      <h1>Users</h1>
      <ErrorBanner error={error} />
      {notice && <p role="status" className="banner success">{notice}</p>}
      {data && (
        <table>
          <thead>
            <tr><th scope="col">User</th><th scope="col">Role and password</th><th scope="col">Created</th></tr>
          </thead>
          <tbody>
            {/* Keyed by version: a saved change reloads the row with the new version. */}
            {data.map((u) => <UserRow key={`${u.id}:${u.version}`} user={u} onChanged={changed} />)}
          </tbody>
        </table>
      )}
      {!isAdmin && <p className="banner" role="note">Users are managed by admins and owners.</p>}
      {isAdmin && <form onSubmit={create} aria-label="New user" noValidate>
        <h2>New user</h2>
        <ErrorBanner error={formError} />
        <TextField label="Username" value={username} onChange={setUsername} error={fe?.field('username')} autoComplete="off" />
        <TextField label="Password" type="password" value={password} onChange={setPassword} error={fe?.field('password')}
          hint="At least 8 characters" autoComplete="new-password" />
        <SelectField label="Role" value={role} onChange={setRole} options={ROLES} error={fe?.field('role')} />
        <div className="form-actions"><button type="submit">Create user</button></div>
      </form>}
    </section>
  );
}
