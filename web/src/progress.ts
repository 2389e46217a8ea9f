import { isFinal, type Job } from "./api/types";

export function finished(job: Job): number {
  return job.counts.succeeded + job.counts.failed + job.counts.cancelled;
}

export function percentDone(job: Job): number {
  if (job.counts.total === 0) return isFinal(job.status) ? 100 : 0;
  return Math.min(100, (finished(job) / job.counts.total) * 100);
}

/** Tasks finished per second over a sliding window of observed states (pushed or fetched). */
export class RateMeter {
  private samples: { at: number; done: number }[] = [];

  constructor(private readonly windowMs = 30_000) {}

  add(done: number, at: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && done < last.done) this.samples = []; // a retry reopened tasks: start over
    this.samples.push({ at, done });
    while (this.samples.length > 2 && at - this.samples[0].at > this.windowMs) this.samples.shift();
  }

  rate(): number | null {
    if (this.samples.length < 2) return null;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = (last.at - first.at) / 1000;
    if (seconds < 0.5) return null;
    return (last.done - first.done) / seconds;
  }
}

/** Throughput in tasks per second: measured live, or over the job's lifetime once it is over. */
export function throughput(job: Job, meter: RateMeter | null): number | null {
  if (!isFinal(job.status)) return meter?.rate() ?? null;
  const seconds = (Date.parse(job.updated_at) - Date.parse(job.created_at)) / 1000;
  return seconds > 0 ? finished(job) / seconds : null;
}

/** Seconds until the last task finishes at the current rate; null when unknown or over. */
export function eta(job: Job, rate: number | null): number | null {
  if (isFinal(job.status) || !rate || rate <= 0) return null;
  return (job.counts.total - finished(job)) / rate;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "—";
  if (seconds < 1) return "< 1 s";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function formatRate(rate: number | null): string {
  if (rate === null || !Number.isFinite(rate)) return "—";
  return rate >= 10 ? `${Math.round(rate)} tasks/s` : `${rate.toFixed(1)} tasks/s`;
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
