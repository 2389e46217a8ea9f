import { useCallback, useMemo, useState } from "react";
import { ApiClient } from "./api/client";
import { ApiContext } from "./api/ApiContext";
import { clearSession, loadSession, saveSession, type Session, type UserFactory } from "./auth/session";
import { DeadLetters } from "./components/DeadLetters";
import { JobDetail } from "./components/JobDetail";
import { JobsList } from "./components/JobsList";
import { SignIn } from "./components/SignIn";
import { SubmitJob } from "./components/SubmitJob";
import type { RuntimeConfig } from "./config";
import { LiveClient, type SocketFactory } from "./live/LiveClient";
import { LiveProvider, useLiveState } from "./live/LiveContext";
import { hrefOf, useRoute } from "./router";

export interface AppProps {
  config: RuntimeConfig;
  fetchImpl?: typeof fetch;
  socketFactory?: SocketFactory;
  /** Cognito's user, for sign-in (tests pass a fake). */
  userFactory?: UserFactory;
}

export function App({ config, fetchImpl, socketFactory, userFactory }: AppProps) {
  const [session, setSession] = useState<Session | null>(() => loadSession());

  const signIn = useCallback((next: Session) => {
    saveSession(next);
    setSession(next);
  }, []);
  const signOut = useCallback(() => {
    clearSession();
    setSession(null);
  }, []);

  const api = useMemo(
    () => (session ? new ApiClient(config.api_url, session.authorization, fetchImpl, signOut) : null),
    [config.api_url, session, fetchImpl, signOut],
  );
  const live = useMemo(
    () => (session ? new LiveClient({ url: config.ws_url, authorization: session.authorization, socketFactory }) : null),
    [config.ws_url, session, socketFactory],
  );

  if (!session || !api || !live) return <SignIn config={config} onSignedIn={signIn} userFactory={userFactory} />;
  return (
    <ApiContext.Provider value={api}>
      <LiveProvider client={live}>
        <Shell session={session} onSignOut={signOut} environment={config.environment} />
      </LiveProvider>
    </ApiContext.Provider>
  );
}

function Shell({ session, onSignOut, environment }: { session: Session; onSignOut: () => void; environment?: string }) {
  const route = useRoute();
  const live = useLiveState();
  const tab = (name: "jobs" | "submit" | "dlq", label: string) => (
    <a href={hrefOf({ name })} className={route.name === name || (name === "jobs" && route.name === "job") ? "active" : ""}>
      {label}
    </a>
  );
  return (
    <div className="shell">
      <header className="topbar">
        <a className="brand" href={hrefOf({ name: "jobs" })}>
          Tasklane
        </a>
        <nav aria-label="Main">
          {tab("jobs", "Jobs")}
          {tab("submit", "Submit")}
          {tab("dlq", "Dead letters")}
        </nav>
        <div className="who">
          <span className={`live live-${live}`} data-testid="live-state" title="live updates">
            {live === "open" ? "● live" : live === "connecting" ? "○ connecting" : "○ offline"}
          </span>
          {environment ? <span className="muted small">{environment}</span> : null}
          <span className="small">{session.label}</span>
          <button type="button" className="link" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <main className="content">
        {route.name === "job" ? <JobDetail key={route.jobId} jobId={route.jobId} /> : null}
        {route.name === "jobs" ? <JobsList /> : null}
        {route.name === "submit" ? <SubmitJob /> : null}
        {route.name === "dlq" ? <DeadLetters /> : null}
      </main>
    </div>
  );
}
