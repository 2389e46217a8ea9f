import { useCallback, useEffect, useState } from "react";
import { useApi } from "../api/ApiContext";
import { JOB_STATUSES, type Job, type JobStatus } from "../api/types";
import { useLiveJobs } from "../live/LiveContext";
import { formatTime } from "../progress";
import { hrefOf } from "../router";
import { ProgressBar } from "./ProgressBar";
import { StatusBadge } from "./StatusBadge";
import { StatusFilter } from "./StatusFilter";

export const PAGE_SIZE = 20;

/** The tenant's jobs, newest first, a page at a time; rows follow pushed updates, new jobs appear on top. */
export function JobsList() {
  const api = useApi();
  const [status, setStatus] = useState<JobStatus | null>(null);
  // tokens[i] fetches page i; page 0 needs none
  const [tokens, setTokens] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState(0);
  const [items, setItems] = useState<Job[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    setLoading(true);
    setError(null);
    api
      .listJobs({ status, limit: PAGE_SIZE, nextToken: tokens[page] })
      .then((result) => {
        if (!current) return;
        setItems(result.items);
        setNext(result.next_token);
      })
      .catch((e: Error) => current && setError(e.message))
      .finally(() => current && setLoading(false));
    return () => {
      current = false;
    };
  }, [api, status, page, tokens]);

  useLiveJobs(
    null,
    useCallback(
      (job: Job) => {
        setItems((rows) => {
          const at = rows.findIndex((row) => row.job_id === job.job_id);
          if (at >= 0) return rows.map((row, i) => (i === at && row.updated_at <= job.updated_at ? job : row));
          const newer = rows.length === 0 || job.created_at >= rows[0].created_at;
          if (page === 0 && newer && (status === null || job.status === status)) return [job, ...rows].slice(0, PAGE_SIZE);
          return rows;
        });
      },
      [page, status],
    ),
  );

  function filter(next: JobStatus | null) {
    setStatus(next);
    setTokens([null]);
    setPage(0);
  }

  function older() {
    if (!next) return;
    setTokens((t) => [...t.slice(0, page + 1), next]);
    setPage((p) => p + 1);
  }

  return (
    <section>
      <header className="section-header">
        <h1>Jobs</h1>
        <a className="button" href={hrefOf({ name: "submit" })}>
          Submit a job
        </a>
      </header>
      <StatusFilter statuses={JOB_STATUSES} value={status} onChange={filter} label="Filter by status" />
      {error ? <p role="alert" className="error">{error}</p> : null}
      <table className="table" aria-label="Jobs" aria-busy={loading}>
        <thead>
          <tr>
            <th>Name</th>
            <th>Status</th>
            <th className="wide">Progress</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {items.map((job) => (
            <tr key={job.job_id} data-job-id={job.job_id}>
              <td>
                <a href={hrefOf({ name: "job", jobId: job.job_id })}>{job.name}</a>
                <div className="muted small mono">{job.job_id}</div>
              </td>
              <td>
                <StatusBadge status={job.status} stopping={job.stopping} />
              </td>
              <td>
                <ProgressBar counts={job.counts} compact />
              </td>
              <td className="small">{formatTime(job.created_at)}</td>
            </tr>
          ))}
          {!loading && items.length === 0 ? (
            <tr>
              <td colSpan={4} className="muted">
                No jobs{status ? ` with status ${status}` : ""} yet.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <nav className="pager" aria-label="Pages">
        <button type="button" disabled={page === 0} onClick={() => setPage((p) => p - 1)}>
          ← Newer
        </button>
        <span className="muted">Page {page + 1}</span>
        <button type="button" disabled={!next} onClick={older}>
          Older →
        </button>
      </nav>
    </section>
  );
}
