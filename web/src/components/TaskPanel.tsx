import { useEffect, useState } from "react";
import { useApi } from "../api/ApiContext";
import type { TaskDetail } from "../api/types";
import { formatTime } from "../progress";
import { StatusBadge } from "./StatusBadge";

/** One task in full: its error, result, payload and every attempt. */
export function TaskPanel({
  jobId,
  taskId,
  version,
  onClose,
}: {
  jobId: string;
  taskId: string;
  version: string;
  onClose: () => void;
}) {
  const api = useApi();
  const [task, setTask] = useState<TaskDetail | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    api
      .getTask(jobId, taskId)
      .then((t) => {
        if (!current) return;
        setTask(t);
        setError(null);
      })
      .catch((e: Error) => current && setError(e.message));
    return () => {
      current = false;
    };
  }, [api, jobId, taskId, version]);

  return (
    <aside className="card task-panel" aria-label={`Task ${taskId}`}>
      <header className="section-header">
        <h3 className="mono">{taskId}</h3>
        <button type="button" className="link" onClick={onClose} aria-label="Close task">
          ✕
        </button>
      </header>
      {error ? <p role="alert" className="error">{error}</p> : null}
      {task ? (
        <>
          <p>
            <StatusBadge status={task.status} /> {task.type} on {task.runtime} · attempt {task.attempts} of{" "}
            {task.max_attempts}
            {task.progress !== null && task.progress !== undefined
              ? ` · ${Math.round(task.progress * 100)}%${task.progress_message ? ` ${task.progress_message}` : ""}`
              : ""}
          </p>
          {task.error ? (
            <>
              <h4>Error</h4>
              <pre className="error-block" data-testid="task-error">
                {task.error}
              </pre>
            </>
          ) : null}
          {task.result !== null && task.result !== undefined ? (
            <>
              <h4>Result</h4>
              <pre data-testid="task-result">{JSON.stringify(task.result, null, 2)}</pre>
            </>
          ) : null}
          <h4>Payload</h4>
          <pre>{JSON.stringify(task.payload, null, 2)}</pre>
          <h4>Attempts</h4>
          {task.history.length ? (
            <table className="table compact" aria-label="Attempts">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Status</th>
                  <th>Error</th>
                  <th>Finished</th>
                </tr>
              </thead>
              <tbody>
                {task.history.map((a) => (
                  <tr key={`${a.attempt}-${a.finished_at}`}>
                    <td>{a.attempt}</td>
                    <td>
                      <StatusBadge status={a.status} />
                    </td>
                    <td className="error-text">{a.error ?? ""}</td>
                    <td className="small">{formatTime(a.finished_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted small">No finished attempt yet.</p>
          )}
          {task.redriven_at ? (
            <p className="muted small">
              Redriven by {task.redriven_by} at {formatTime(task.redriven_at)}
            </p>
          ) : null}
        </>
      ) : error ? null : (
        <p className="muted">Loading…</p>
      )}
    </aside>
  );
}
