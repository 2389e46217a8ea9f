import { useCallback, useEffect, useState } from "react";
import { useApi } from "../api/ApiContext";
import type { DeadLetters as DeadLettersBody, RedriveResult } from "../api/types";
import { hrefOf } from "../router";

/** Tasks that ran out of attempts (or could not be read), grouped by error, each group redriven at once. */
export function DeadLetters() {
  const api = useApi();
  const [body, setBody] = useState<DeadLettersBody | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [results, setResults] = useState<Record<string, RedriveResult | string>>({});
  const [busy, setBusy] = useState<string | null>(null);

  const load = useCallback(() => {
    api
      .deadLetters()
      .then((b) => {
        setBody(b);
        setError(null);
      })
      .catch((e: Error) => setError(e.message));
  }, [api]);

  useEffect(load, [load]);

  async function redrive(fingerprint: string) {
    setBusy(fingerprint);
    try {
      const result = await api.redrive({ fingerprint });
      setResults((r) => ({ ...r, [fingerprint]: result }));
      load();
    } catch (e) {
      setResults((r) => ({ ...r, [fingerprint]: (e as Error).message }));
    } finally {
      setBusy(null);
    }
  }

  return (
    <section>
      <header className="section-header">
        <h1>Dead letters</h1>
        <button type="button" className="secondary" onClick={load}>
          Refresh
        </button>
      </header>
      {error ? <p role="alert" className="error">{error}</p> : null}
      {body ? (
        <p className="muted">
          {body.total.toLocaleString()} dead task{body.total === 1 ? "" : "s"} in {body.groups.length} group
          {body.groups.length === 1 ? "" : "s"}
          {body.truncated ? " (only the first ones are grouped)" : ""}.
        </p>
      ) : null}
      {body?.groups.map((group) => {
        const result = results[group.fingerprint];
        return (
          <article key={group.fingerprint} className="card dead-group" aria-label={`Dead letters: ${group.error_class}`}>
            <header className="section-header">
              <div>
                <h2>
                  {group.error_class} <span className="muted small">in {group.task_type}</span>
                </h2>
                <p>{group.message}</p>
              </div>
              <div className="actions">
                <span className="count" data-testid="dead-count">
                  {group.count.toLocaleString()}
                </span>
                <button type="button" onClick={() => redrive(group.fingerprint)} disabled={busy !== null}>
                  {busy === group.fingerprint ? "Redriving…" : "Redrive"}
                </button>
              </div>
            </header>
            <details>
              <summary>Sample error</summary>
              <pre className="error-block">{group.sample_error}</pre>
            </details>
            <p className="small">
              Jobs:{" "}
              {group.job_ids.map((jobId) => (
                <a key={jobId} className="mono" href={hrefOf({ name: "job", jobId })}>
                  {jobId}{" "}
                </a>
              ))}
            </p>
            {typeof result === "string" ? <p role="alert" className="error">{result}</p> : null}
            {result && typeof result !== "string" ? (
              <p role="status" className="notice">
                Redriven: {result.redriven}
                {result.skipped.length ? `; skipped ${result.skipped.length} (${result.skipped[0].reason})` : ""}
              </p>
            ) : null}
          </article>
        );
      })}
      {body && body.groups.length === 0 ? <p className="muted">No dead letters.</p> : null}
    </section>
  );
}
