import { useState } from 'preact/hooks';
import { ApiError, call, describeError } from '../api';
import { BrandMark } from '../components/common';
import type { Session } from '../session';
import type { WhoamiView } from '@nagaya/contract';

/** Asks the API who a token is; resolves to the session or throws a message fit for the form. */
export async function signIn(token: string): Promise<Session> {
  try {
    const who = await call<WhoamiView>('GET', '/whoami', undefined, token);
    return { token, name: who.name, role: who.role, project: who.project };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw new Error(`That token was not accepted: ${err.message}`);
    throw new Error(`Could not sign in: ${describeError(err)}`);
  }
}

/** The sign-in form: the token is typed (or pasted) here, never taken from the URL. */
export function SignInPage(props: { onSignedIn: (s: Session) => void; message?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(props.message ?? '');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!token.trim()) {
      setError('Enter an API token.');
      return;
    }
    setBusy(true);
    setError('');
    try {
      props.onSignedIn(await signIn(token.trim()));
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <main class="sign-in">
      <form onSubmit={(e) => void submit(e)} aria-describedby={error ? 'sign-in-error' : undefined}>
        <h1>
          <BrandMark /> nagaya
        </h1>
        <p class="muted">Sign in with an API token (admin, operator or viewer). It is kept for this tab only.</p>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          // biome-ignore lint/a11y/noAutofocus: the token is the only input of the sign-in page, so focus has nowhere else a user could mean to go
          autoFocus
          value={token}
          aria-invalid={error ? 'true' : undefined}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        {error && (
          <p id="sign-in-error" class="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
