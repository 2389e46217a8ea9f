import { useState, type FormEvent } from "react";
import type { RuntimeConfig } from "../config";
import { apiKeySession, signInWithPassword, type Session } from "../auth/session";

/** People sign in with their username and password (Cognito); machines, and the local platform, with an API key. */
export function SignIn({
  config,
  onSignedIn,
  fetchImpl,
}: {
  config: RuntimeConfig;
  onSignedIn: (session: Session) => void;
  fetchImpl?: typeof fetch;
}) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [apiKey, setApiKey] = useState("");
  const [passwordError, setPasswordError] = useState<string | null>(null);
  const [keyError, setKeyError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function withPassword(event: FormEvent) {
    event.preventDefault();
    setPasswordError(null);
    setBusy(true);
    try {
      onSignedIn(await signInWithPassword(config.cognito, username, password, fetchImpl));
    } catch (error) {
      setPasswordError((error as Error).message);
    } finally {
      setBusy(false);
    }
  }

  function withKey(event: FormEvent) {
    event.preventDefault();
    setKeyError(null);
    try {
      onSignedIn(apiKeySession(apiKey));
    } catch (error) {
      setKeyError((error as Error).message);
    }
  }

  return (
    <main className="signin">
      <h1>Tasklane</h1>
      <p className="muted">Sign in to follow your tenant&apos;s jobs.</p>
      <div className="signin-forms">
        <form onSubmit={withPassword} aria-label="People sign in" className="card">
          <h2>Username and password</h2>
          <label>
            Username
            <input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} />
          </label>
          <label>
            Password
            <input
              name="password"
              type="password"
              autoComplete="current-password"
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </label>
          {passwordError ? (
            <p role="alert" className="field-error">
              {passwordError}
            </p>
          ) : null}
          <button type="submit" disabled={busy}>
            {busy ? "Signing in…" : "Sign in"}
          </button>
        </form>
        <form onSubmit={withKey} aria-label="Machines sign in" className="card">
          <h2>API key</h2>
          <label>
            API key
            <input name="api-key" autoComplete="off" placeholder="tlk_…" value={apiKey} onChange={(e) => setApiKey(e.target.value)} />
          </label>
          <p className="muted small">
            For scripts and the local platform: its keys are in <code>.local/endpoints.json</code>.
          </p>
          {keyError ? (
            <p role="alert" className="field-error">
              {keyError}
            </p>
          ) : null}
          <button type="submit">Use API key</button>
        </form>
      </div>
    </main>
  );
}
