// API keys (shown once at creation, revoked by deleting) and the tenant's
// users (role changes and password resets carry the version loaded). A
// user or key with the publisher role is bound to one publisher, picked here.
import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api';
import { ErrorBanner, FormBanner, SelectField, TextField, opts } from '../components';
import { useForm } from '../form';
import { list, useAction } from '../query';
import { useCan } from '../role';
import type { ApiKey, Named, NewApiKey, UserView } from '../types';

const ROLES = opts('viewer', 'manager', 'admin', 'owner', 'publisher');
const PUBLISHERS = '/api/publishers';

/** The publisher picker's options, and a publisher's name by id. */
function usePublishers() {
  const { data, error } = useQuery(list<Named>(PUBLISHERS));
  const options = [{ value: '', label: '(none)' }, ...(data ?? []).map((p) => ({ value: p.id, label: p.name }))];
  const name = (id?: string | null) => (id ? data?.find((p) => p.id === id)?.name ?? id.slice(0, 8) : '—');
  return { options, name, error };
}
const KEYS = '/api/api-keys';
const USERS = '/api/users';

export function ApiKeysPage() {
  const isAdmin = useCan('admin');
  const { data, error } = useQuery(list<ApiKey>(KEYS));
  const publishers = usePublishers();
  const [created, setCreated] = useState<{ name: string; key: string }>();
  const f = useForm({
    initial: () => ({ name: '', role: 'manager', publisherId: '' }),
    check: (d) => ({ body: { name: d.name.trim(), role: d.role, publisherId: d.publisherId || null }, errors: [] }),
    save: (body) => api.post<NewApiKey>(KEYS, body),
    invalidates: [KEYS],
    onSaved: (k) => {
      setCreated({ name: k.name, key: k.key });
      f.setDraft((d) => ({ ...d, name: '' }));
    },
  });
  const revoke = useAction((k: ApiKey) => api.del(`${KEYS}/${k.id}`), [KEYS]);

  function remove(k: ApiKey) {
    if (!window.confirm(`Revoke the key ${k.name}? Clients using it are refused at once.`)) return;
    void revoke.run(k);
  }

  return (
    <section>
      <h1>API keys</h1>
      <ErrorBanner error={error ?? revoke.error ?? publishers.error} />
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
            <tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Role</th><th scope="col">Publisher</th><th scope="col">Created by</th><th scope="col">Created</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td><code>{k.prefix}…</code></td>
                <td>{k.role}</td>
                <td>{publishers.name(k.publisherId)}</td>
                <td>{k.createdBy}</td>
                <td>{new Date(k.createdAt).toLocaleString()}</td>
                <td className="actions"><button type="button" disabled={revoke.busy} onClick={() => remove(k)} aria-label={`Revoke ${k.name}`}>Revoke</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!isAdmin && <p className="banner" role="note">API keys are managed by admins and owners.</p>}
      {isAdmin && <form onSubmit={f.submit} aria-label="New API key" noValidate>
        <h2>New API key</h2>
        <FormBanner error={f.error} localErrors={f.localErrors} />
        <TextField label="Key name" value={f.draft.name} onChange={f.set('name')} error={f.err('name')} hint="What it is for, to tell keys apart" />
        <SelectField label="Key role" value={f.draft.role} onChange={f.set('role')} options={ROLES} error={f.err('role')}
          hint="At most your own role; publisher: reads only that publisher's calls, numbers and settings" />
        <SelectField label="Key publisher" value={f.draft.publisherId} onChange={f.set('publisherId')} options={publishers.options}
          error={f.err('publisherId')} hint="Required for the publisher role: the one publisher it sees. For other roles: the publisher its RTB pings are attributed to" />
        <div className="form-actions"><button type="submit" disabled={f.saving}>Create key</button></div>
      </form>}
    </section>
  );
}

/** A user's role change as the API takes it: a publisher names its publisher. */
function roleBody(d: { role: string; publisherId: string }) {
  return d.role === 'publisher' ? { role: d.role, publisherId: d.publisherId || null } : { role: d.role };
}

type Publishers = ReturnType<typeof usePublishers>;

function UserRow({ user, publishers, onChanged }: { user: UserView; publishers: Publishers; onChanged: (notice?: string) => void }) {
  const f = useForm({
    initial: () => ({ role: user.role as string, publisherId: user.publisherId ?? '', password: '' }),
    version: user.version,
    check: (d) => ({ body: d.password ? { ...roleBody(d), password: d.password } : roleBody(d), errors: [] }),
    save: (body, version) => api.put<UserView>(`${USERS}/${user.id}`, body, version),
    invalidates: [USERS],
    onSaved: () => onChanged(`Saved ${user.username}: role ${f.draft.role}${f.draft.password ? ', new password' : ''}.`),
  });
  const del = useAction(() => api.del(`${USERS}/${user.id}`, user.version), [USERS]);

  async function remove() {
    if (!window.confirm(`Delete the user ${user.username}?`)) return;
    if (await del.run(undefined)) onChanged(`Deleted ${user.username}.`);
  }

  return (
    <tr>
      <th scope="row">{user.username}</th>
      <td>
        <form className="inline" onSubmit={f.submit} aria-label={`Edit ${user.username}`} noValidate>
          <SelectField label={`${user.username} role`} value={f.draft.role} onChange={f.set('role')} options={ROLES} error={f.err('role')} />
          {f.draft.role === 'publisher' && (
            <SelectField label={`${user.username} publisher`} value={f.draft.publisherId} onChange={f.set('publisherId')}
              options={publishers.options} error={f.err('publisherId')} />
          )}
          <TextField label={`${user.username} new password`} type="password" value={f.draft.password} onChange={f.set('password')}
            error={f.err('password')} autoComplete="new-password" />
          <button type="submit" disabled={f.saving || del.busy}>Save</button>
          <button type="button" disabled={f.saving || del.busy} onClick={remove}>Delete</button>
        </form>
        {/* A stale row: the list is read again, and the row with it (keyed by version). */}
        <ErrorBanner error={f.error ?? del.error} onReload={() => onChanged()} />
      </td>
      <td>{new Date(user.createdAt).toLocaleString()}</td>
    </tr>
  );
}

export function UsersPage() {
  const isAdmin = useCan('admin');
  const { data, error, refetch } = useQuery(list<UserView>(USERS));
  const publishers = usePublishers();
  const [notice, setNotice] = useState<string>();
  const changed = (n?: string) => {
    setNotice(n);
    void refetch();
  };
  const f = useForm({
    initial: () => ({ username: '', password: '', role: 'viewer', publisherId: '' }),
    check: (d) => ({ body: { username: d.username.trim(), password: d.password, ...roleBody(d) }, errors: [] }),
    save: (body) => api.post<UserView>(USERS, body),
    invalidates: [USERS],
    onSaved: (u) => {
      setNotice(`Created ${u?.username ?? f.draft.username.trim()}.`);
      f.setDraft((d) => ({ ...d, username: '', password: '' }));
    },
  });

  return (
    <section>
      <h1>Users</h1>
      <ErrorBanner error={error ?? publishers.error} />
      {notice && <p role="status" className="banner success">{notice}</p>}
      {data && (
        <table>
          <thead>
            <tr><th scope="col">User</th><th scope="col">Role and password</th><th scope="col">Created</th></tr>
          </thead>
          <tbody>
            {/* Keyed by version: a saved change reloads the row with the new version. */}
            {data.map((u) => <UserRow key={`${u.id}:${u.version}`} user={u} publishers={publishers} onChanged={changed} />)}
          </tbody>
        </table>
      )}
      {!isAdmin && <p className="banner" role="note">Users are managed by admins and owners.</p>}
      {isAdmin && <form onSubmit={f.submit} aria-label="New user" noValidate>
        <h2>New user</h2>
        <FormBanner error={f.error} localErrors={f.localErrors} />
        <TextField label="Username" value={f.draft.username} onChange={f.set('username')} error={f.err('username')} autoComplete="off" />
        <TextField label="Password" type="password" value={f.draft.password} onChange={f.set('password')} error={f.err('password')}
          hint="At least 8 characters" autoComplete="new-password" />
        <SelectField label="Role" value={f.draft.role} onChange={f.set('role')} options={ROLES} error={f.err('role')}
          hint="Publisher: signs in to see only that publisher's calls (its payout, the caller masked), numbers and settings" />
        {f.draft.role === 'publisher' && (
          <SelectField label="Publisher" value={f.draft.publisherId} onChange={f.set('publisherId')} options={publishers.options}
            error={f.err('publisherId')} hint="The one publisher this user sees" />
        )}
        <div className="form-actions"><button type="submit" disabled={f.saving}>Create user</button></div>
      </form>}
    </section>
  );
}
