import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { useApi } from "../api/ApiContext";
import { isFinal, TASK_STATUSES, type Job, type Task, type TaskStatus } from "../api/types";
import { useLiveJobs } from "../live/LiveContext";
import { eta, finished, formatDuration, formatRate, formatTime, RateMeter, throughput } from "../progress";
import { hrefOf } from "../router";
import { ProgressBar } from "./ProgressBar";
import { StatusBadge } from "./StatusBadge";
import { TaskPanel } from "./TaskPanel";
import { StatusFilter } from "./StatusFilter";

export const TASK_PAGE_SIZE = 25;
/** While a job moves, its task table is fetched again at most this often. */
export const TASK_REFRESH_MS = 1500;

/** A job as it runs: progress, counts, rate and ETA from pushed updates; its tasks; cancel and retry. */
export function JobDetail({ jobId }: { jobId: string }) {
  const api = useApi();
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const meter = useRef(new RateMeter());
  const [, setTick] = useState(0);

  // Pushed states arrive in order (the live client drops any older than the one it applied); a fetched or
  // returned state may be older than what was pushed meanwhile, so it only replaces an older one.
  const pushed = useCallback((next: Job) => {
    setJob(next);
    meter.current.add(finished(next), Date.now());
  }, []);
  const show = useCallback((next: Job) => {
    setJob((shown) => (shown && shown.job_id === next.job_id && shown.updated_at > next.updated_at ? shown : next));
    meter.current.add(finished(next), Date.now());
  }, []);

  useEffect(() => {
    let current = true;
    meter.current = new RateMeter();
    setJob(null);
    setError(null);
    api
      .getJob(jobId)
      .then((j) => current && show(j))
      .catch((e: Error) => current && setError(e.message));
    return () => {
      current = false;
    };
  }, [api, jobId, show]);

  useLiveJobs(jobId, pushed);

  // The ETA counts down between pushes.
  useEffect(() => {
    if (!job || isFinal(job.status)) return;
    const timer = setInterval(() => setTick((t) => t + 1), 1000);
    return () => clearInterval(timer);
  }, [job]);

  async function act(action: "cancel" | "retry") {
    setBusy(true);
    setNotice(null);
    try {
      const updated = action === "cancel" ? await api.cancelJob(jobId) : await api.retryJob(jobId);
      show(updated);
      setNotice(action === "cancel" ? "Cancelling: running tasks finish, the others will not start." : "Retrying the failed tasks.");
    } catch (e) {
      setNotice(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  if (error) {
    return (
      <section>
        <p role="alert" className="error">{error}</p>
        <a href={hrefOf({ name: "jobs" })}>← All jobs</a>
      </section>
    );
  }
  if (!job) return <p className="muted">Loading…</p>;

  const rate = throughput(job, meter.current);
  const remaining = eta(job, rate);
  const canCancel = !isFinal(job.status) && !job.stopping;
  const canRetry = isFinal(job.status) && job.counts.failed > 0;

  return (
    <section aria-label={`Job ${job.name}`}>
      <a href={hrefOf({ name: "jobs" })} className="small">
        ← All jobs
      </a>
      <header className="section-header">
        <div>
          <h1>{job.name}</h1>
          <div className="muted small mono">{job.job_id}</div>
        </div>
        <div className="actions">
          <StatusBadge status={job.status} stopping={job.stopping} testId="job-status" />
          <button type="button" onClick={() => act("cancel")} disabled={!canCancel || busy}>
            Cancel job
          </button>
          <button type="button" onClick={() => act("retry")} disabled={!canRetry || busy}>
            Retry failed tasks
          </button>
        </div>
      </header>
      {notice ? <p role="status" className="notice">{notice}</p> : null}
      <ProgressBar counts={job.counts} />
      <dl className="stats" aria-label="Counts">
        {(["total", "pending", "running", "succeeded", "failed", "cancelled"] as const).map((key) => (
          <div key={key} className={`stat stat-${key}`}>
            <dt>{key}</dt>
            <dd data-testid={`count-${key}`}>{job.counts[key].toLocaleString()}</dd>
          </div>
        ))}
        <div className="stat">
          <dt>throughput</dt>
          <dd data-testid="throughput">{formatRate(rate)}</dd>
        </div>
        <div className="stat">
          <dt>ETA</dt>
          <dd data-testid="eta">{isFinal(job.status) ? "done" : formatDuration(remaining)}</dd>
        </div>
      </dl>
      <p className="muted small">
        Created {formatTime(job.created_at)} · updated {formatTime(job.updated_at)}
        {job.run ? ` · run ${job.run + 1}` : ""}
        {job.max_concurrency ? ` · at most ${job.max_concurrency} at once` : ""}
      </p>
      <TaskTable jobId={jobId} version={`${job.updated_at}/${finished(job)}/${job.counts.running}`} />
    </section>
  );
}

function TaskTable({ jobId, version }: { jobId: string; version: string }) {
  const api = useApi();
  const [status, setStatus] = useState<TaskStatus | null>(null);
  const [tokens, setTokens] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState(0);
  const [tasks, setTasks] = useState<Task[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const lastLoad = useRef(0);

  useEffect(() => {
    let current = true;
    lastLoad.current = Date.now();
    api
      .listTasks(jobId, { status, limit: TASK_PAGE_SIZE, nextToken: tokens[page] })
      .then((result) => {
        if (!current) return;
        setTasks(result.items);
        setNext(result.next_token);
        setError(null);
      })
      .catch((e: Error) => current && setError(e.message));
    return () => {
      current = false;
    };
  }, [api, jobId, status, page, tokens, reload]);

  // The job moved: fetch the page again, at most once per TASK_REFRESH_MS.
  useEffect(() => {
    const wait = Math.max(0, lastLoad.current + TASK_REFRESH_MS - Date.now());
    const timer = setTimeout(() => setReload((r) => r + 1), wait);
    return () => clearTimeout(timer);
  }, [version]);

  function filter(next: TaskStatus | null) {
    setStatus(next);
    setTokens([null]);
    setPage(0);
  }

  return (
    <div className="tasks">
      <h2>Tasks</h2>
      <StatusFilter statuses={TASK_STATUSES} value={status} onChange={filter} label="Filter tasks by status" />
      {error ? <p role="alert" className="error">{error}</p> : null}
      <div className="task-layout">
        <table className="table" aria-label="Tasks">
          <thead>
            <tr>
              <th>#</th>
              <th>Type</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Progress</th>
              <th className="wide">Result or error</th>
            </tr>
          </thead>
          <tbody>
            {tasks.map((task) => (
              <tr
                key={task.task_id}
                data-task-id={task.task_id}
                className={task.task_id === selected ? "selected clickable" : "clickable"}
                onClick={() => setSelected(task.task_id)}
              >
                <td className="mono">{task.index}</td>
                <td>
                  {task.type} <span className="muted small">{task.runtime}</span>
                </td>
                <td>
                  <StatusBadge status={task.status} />
                </td>
                <td>{task.attempts}</td>
                <td>{progressOf(task)}</td>
                <td className="truncate">
                  <button type="button" className="link" onClick={() => setSelected(task.task_id)}>
                    {task.error ? <span className="error-text">{task.error}</span> : summary(task.result)}
                  </button>
                </td>
              </tr>
            ))}
            {tasks.length === 0 ? (
              <tr>
                <td colSpan={6} className="muted">
                  No tasks{status ? ` with status ${status}` : ""}.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
        {selected ? <TaskPanel jobId={jobId} taskId={selected} version={version} onClose={() => setSelected(null)} /> : null}
      </div>
      <nav className="pager" aria-label="Task pages">
        <button type="button" disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          ← Previous
        </button>
        <span className="muted">Page {page + 1}</span>
        <button
          type="button"
          disabled={!next}
          onClick={() => {
            setTokens((t) => [...t.slice(0, page + 1), next]);
            setPage((p) => p + 1);
          }}
        >
          Next →
        </button>
      </nav>
    </div>
  );
}

function progressOf(task: Task): string {
  if (task.progress === null || task.progress === undefined) return task.status === "RUNNING" ? "…" : "—";
  const percent = `${Math.round(task.progress * 100)}%`;
  return task.progress_message ? `${percent} ${task.progress_message}` : percent;
}

function summary(value: unknown): string {
  if (value === null || value === undefined) return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
