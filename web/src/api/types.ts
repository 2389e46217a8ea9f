/** The REST API's bodies (lambdas/api/schemas.py). */
export const JOB_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TASK_STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const isFinal = (status: JobStatus) => status !== "PENDING" && status !== "RUNNING";

export interface Counts {
  total: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

export interface Job {
  job_id: string;
  name: string;
  status: JobStatus;
  created_at: string;
  updated_at: string;
  counts: Counts;
  metadata: Record<string, unknown>;
  run: number;
  stopping: string | null;
  max_concurrency?: number | null;
  timeout_seconds?: number | null;
}

export interface Page<T> {
  items: T[];
  next_token: string | null;
}

export interface Task {
  task_id: string;
  index: number;
  type: string;
  runtime: "lambda" | "eks";
  status: TaskStatus;
  attempts: number;
  result?: unknown;
  error?: string | null;
  progress?: number | null;
  progress_message?: string | null;
}

export interface Attempt {
  attempt: number;
  status: TaskStatus;
  error?: string | null;
  finished_at: string;
}

export interface TaskDetail extends Task {
  payload: Record<string, unknown>;
  max_attempts: number;
  run: number;
  history: Attempt[];
  redriven_by?: string | null;
  redriven_at?: string | null;
  created_at: string;
  updated_at: string;
}

export interface DeadLetterGroup {
  fingerprint: string;
  task_type: string;
  error_class: string;
  message: string;
  count: number;
  job_ids: string[];
  sample_task_ids: string[];
  sample_error: string;
}

export interface DeadLetters {
  groups: DeadLetterGroup[];
  total: number;
  truncated: boolean;
}

export interface RedriveResult {
  redriven: number;
  runs: Record<string, number>;
  skipped: { job_id: string; task_id: string; reason: string }[];
}

export interface JobCreated {
  job_id: string;
  status: JobStatus;
}
