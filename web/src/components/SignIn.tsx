import { useState, type FormEvent } from "react";
import type { RuntimeConfig } from "../config";
import {
  apiKeySession,
  signInWithPassword,
  type Session,
  type SignInStep,
  type UserFactory,
} from "../auth/session";

/**
 * People sign in with their username and password (Cognito, SRP: the password itself is never sent), then
 * the code of their authenticator app when their account has MFA; machines, and the local platform, with an
 * API key.
 */
export function SignIn({
  config,
  onSignedIn,
  userFactory,
}: {
  config: RuntimeConfig;
  onSignedIn: (session: Session) => void;
  userFactory?: UserFactory;
}) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [mfa, setMfa] = useState<Extract<SignInStep, { kind: "mfa" }> | null>(null);
  const [apiKey, setApiKey] = useState("");
  const [passwordError, setPasswordError] = useState<string | null>(null);
  const [keyError, setKeyError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function take(step: Promise<SignInStep>) {
    setPasswordError(null);
    setBusy(true);
    try {
      const next = await step;
      if (next.kind === "signed-in") onSignedIn(next.session);
      else {
        setCode("");
        setMfa(next);
      }
    } catch (error) {
      setPasswordError((error as Error).message);
    } finally {
      setBusy(false);
    }
  }

  function withPassword(event: FormEvent) {
    event.preventDefault();
    void take(signInWithPassword(config.cognito, username, password, userFactory));
  }

  function withCode(event: FormEvent) {
    event.preventDefault();
    if (mfa) void take(mfa.answer(code));
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
        {mfa ? (
          <form onSubmit={withCode} aria-label="Second factor" className="card">
            <h2>Verification code</h2>
            <p className="muted small">
              {mfa.factor === "TOTP" ? "Enter the code your authenticator app shows." : "Enter the code sent to your phone."}
            </p>
            <label>
              Code
              <input
                name="code"
                inputMode="numeric"
                autoComplete="one-time-code"
                value={code}
                onChange={(e) => setCode(e.target.value)}
              />
            </label>
            <Submit error={passwordError} busy={busy} label="Verify" busyLabel="Checking…" />
            <button type="button" className="link" onClick={() => setMfa(null)}>
              Start again
            </button>
          </form>
        ) : (
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
          <Submit error={passwordError} busy={busy} label="Sign in" busyLabel="Signing in…" />
        </form>
        )}
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

/** A sign-in form's refusal, if any, and its submit button. */
function Submit({ error, busy, label, busyLabel }: { error: string | null; busy: boolean; label: string; busyLabel: string }) {
  return (
    <>
      {error ? (
        <p role="alert" className="field-error">
          {error}
        </p>
      ) : null}
      <button type="submit" disabled={busy}>
        {busy ? busyLabel : label}
      </button>
    </>
  );
}
