import type {
  DeadLetters,
  Job,
  JobCreated,
  JobStatus,
  Page,
  RedriveResult,
  Task,
  TaskDetail,
  TaskStatus,
} from "./types";

/** Problems the API names by field ("body.tasks.0.type: Field required" or "tasks[0].type: unknown ..."),
 * keyed by a dotted path without the "body." root ("tasks.0.type"); the rest are general. */
export interface Problems {
  fields: Record<string, string>;
  general: string[];
}

const FIELD_PROBLEM = /^(?:body\.)?([A-Za-z_][\w]*(?:(?:\.\w+)|(?:\[\d+\]))*): (.+)$/s;

export function parseProblems(message: string): Problems {
  const problems: Problems = { fields: {}, general: [] };
  for (const part of message.split("; ").map((p) => p.trim()).filter(Boolean)) {
    const match = FIELD_PROBLEM.exec(part);
    if (match && match[1] !== "body") {
      const path = match[1].replace(/\[(\d+)\]/g, ".$1");
      problems.fields[path] = problems.fields[path] ? `${problems.fields[path]}; ${match[2]}` : match[2];
    } else {
      problems.general.push(part);
    }
  }
  return problems;
}

export class ApiError extends Error {
  readonly problems: Problems;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
    this.problems = status === 422 || status === 400 ? parseProblems(message) : { fields: {}, general: [message] };
  }
}

type Query = Record<string, string | number | null | undefined>;

export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly authorization: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  listJobs(options: { status?: JobStatus | null; limit?: number; nextToken?: string | null } = {}) {
    return this.call<Page<Job>>("GET", "jobs", {
      query: { status: options.status, limit: options.limit ?? 20, next_token: options.nextToken },
    });
  }

  getJob(jobId: string) {
    return this.call<Job>("GET", `jobs/${encodeURIComponent(jobId)}`);
  }

  listTasks(jobId: string, options: { status?: TaskStatus | null; limit?: number; nextToken?: string | null } = {}) {
    return this.call<Page<Task>>("GET", `jobs/${encodeURIComponent(jobId)}/tasks`, {
      query: { status: options.status, limit: options.limit ?? 50, next_token: options.nextToken },
    });
  }

  getTask(jobId: string, taskId: string) {
    return this.call<TaskDetail>("GET", `jobs/${encodeURIComponent(jobId)}/tasks/${encodeURIComponent(taskId)}`);
  }

  submitJob(spec: unknown) {
    return this.call<JobCreated>("POST", "jobs", { body: spec });
  }

  cancelJob(jobId: string) {
    return this.call<Job>("POST", `jobs/${encodeURIComponent(jobId)}/cancel`);
  }

  retryJob(jobId: string) {
    return this.call<Job>("POST", `jobs/${encodeURIComponent(jobId)}/retry`);
  }

  deadLetters() {
    return this.call<DeadLetters>("GET", "dlq");
  }

  redrive(selection: { job_id?: string; fingerprint?: string; task_ids?: string[] }) {
    return this.call<RedriveResult>("POST", "dlq/redrive", { body: selection });
  }

  private async call<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { Authorization: this.authorization };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await this.fetchImpl(url.toString(), {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
      });
    } catch (error) {
      throw new ApiError(0, "network_error", `the API did not answer: ${(error as Error).message}`);
    }
    const text = await response.text();
    let data: unknown = undefined;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!response.ok) {
      const error = (data as { error?: { code?: string; message?: string } } | undefined)?.error;
      if (response.status === 401) this.onUnauthorized();
      throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? (text || response.statusText));
    }
    return data as T;
  }
}
