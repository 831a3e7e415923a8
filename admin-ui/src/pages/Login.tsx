// Sign in with a username and password; the server sets the session cookie.
import { useState, type FormEvent } from 'react';
import { auth, type CurrentUser } from '../api';
import { ErrorBanner, TextField } from '../components';

export function LoginPage({ onLogin, notice }: { onLogin: (u: CurrentUser) => void; notice?: string }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      onLogin(await auth.login(username.trim(), password));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <h1>Switchboard</h1>
      <form onSubmit={submit} aria-label="Sign in">
        <h2>Sign in</h2>
        {notice && <p role="status" className="banner">{notice}</p>}
        <ErrorBanner error={error} />
        <TextField label="Username" value={username} onChange={setUsername} autoComplete="username" required />
        <TextField label="Password" type="password" value={password} onChange={setPassword} autoComplete="current-password" required />
        <div className="form-actions"><button type="submit" disabled={busy}>Sign in</button></div>
      </form>
    </main>
  );
}
