import type { Counts } from "../api/types";

/** Finished tasks as one bar: succeeded, failed and cancelled segments, with running ones after them. */
export function ProgressBar({ counts, compact = false }: { counts: Counts; compact?: boolean }) {
  const total = Math.max(counts.total, 1);
  const done = counts.succeeded + counts.failed + counts.cancelled;
  const percent = counts.total === 0 ? 0 : Math.floor((done / counts.total) * 100);
  const width = (n: number) => `${(n / total) * 100}%`;
  return (
    <div className={compact ? "progress compact" : "progress"}>
      <div
        className="progress-track"
        role="progressbar"
        aria-label="tasks finished"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
      >
        <span className="seg seg-succeeded" style={{ width: width(counts.succeeded) }} />
        <span className="seg seg-failed" style={{ width: width(counts.failed) }} />
        <span className="seg seg-cancelled" style={{ width: width(counts.cancelled) }} />
        <span className="seg seg-running" style={{ width: width(counts.running) }} />
      </div>
      <span className="progress-label" data-testid="progress-label">
        {percent}% · {done.toLocaleString()} / {counts.total.toLocaleString()}
      </span>
    </div>
  );
}
