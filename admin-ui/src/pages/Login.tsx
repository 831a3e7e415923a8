// Sign in with a username and password; the server sets the session cookie.
import { auth, type CurrentUser } from '../api';
import { ErrorBanner, TextField } from '../components';
import { useForm } from '../form';

export function LoginPage({ onLogin, notice }: { onLogin: (u: CurrentUser) => void; notice?: string }) {
  const f = useForm({
    initial: () => ({ username: '', password: '' }),
    check: (d) => ({ body: { username: d.username.trim(), password: d.password }, errors: [] }),
    save: (body) => auth.login(body.username, body.password),
    invalidates: [],
    onSaved: onLogin,
  });

  return (
    <main className="login">
      <h1>Switchboard</h1>
      <form onSubmit={f.submit} aria-label="Sign in">
        <h2>Sign in</h2>
        {notice && <p role="status" className="banner">{notice}</p>}
        <ErrorBanner error={f.error} />
        <TextField label="Username" value={f.draft.username} onChange={f.set('username')} autoComplete="username" required />
        <TextField label="Password" type="password" value={f.draft.password} onChange={f.set('password')} autoComplete="current-password" required />
        <div className="form-actions"><button type="submit" disabled={f.saving}>Sign in</button></div>
      </form>
    </main>
  );
}
