/** The REST API's bodies, as the API's own OpenAPI document declares them.
 *
 * schema.ts is generated from that document (`make api-types`); `make test` fails when it no longer matches
 * the API. This file only gives the generated schemas the short names the dashboard uses. */
import type { components } from "./schema";

type Schemas = components["schemas"];

export type JobStatus = Schemas["JobStatus"];
export type TaskStatus = Schemas["TaskStatus"];

// Every member of the enums, in display order; the two checks below fail the build when the API adds or drops one.
const jobStatuses = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT"] as const;
const taskStatuses = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"] as const;
type Exactly<T, U> = [T] extends [U] ? ([U] extends [T] ? true : false) : false;
const _allJobStatuses: Exactly<(typeof jobStatuses)[number], JobStatus> = true;
const _allTaskStatuses: Exactly<(typeof taskStatuses)[number], TaskStatus> = true;
void _allJobStatuses;
void _allTaskStatuses;
export const JOB_STATUSES: readonly JobStatus[] = jobStatuses;
export const TASK_STATUSES: readonly TaskStatus[] = taskStatuses;

export const isFinal = (status: JobStatus) => status !== "PENDING" && status !== "RUNNING";

export type Counts = Schemas["CountsOut"];
export type Job = Schemas["JobOut"];
export type Task = Schemas["TaskOut"];
export type Attempt = Schemas["AttemptOut"];
export type TaskDetail = Schemas["TaskDetailOut"];
export type DeadLetterGroup = Schemas["DeadLetterGroupOut"];
export type DeadLetters = Schemas["DeadLettersOut"];
export type RedriveResult = Schemas["RedriveOut"];
export type JobCreated = Schemas["JobCreated"];

export interface Page<T> {
  items: T[];
  next_token: string | null;
}
