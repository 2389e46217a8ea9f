import { useMemo, useState, type ChangeEvent, type FormEvent } from "react";
import { ApiError, type Problems } from "../api/client";
import { useApi } from "../api/ApiContext";
import { navigate } from "../router";

export const EXAMPLE_SPEC = {
  name: "hello",
  tasks: [
    { type: "echo", payload: { hello: "world" } },
    { type: "hash", payload: { data: "tasklane", rounds: 1000 } },
    { type: "sleep", payload: { seconds: 2 }, runtime: "eks" },
  ],
  metadata: { submitted_from: "dashboard" },
};

const JOB_FIELDS = ["name", "max_concurrency", "tolerated_failure_percentage", "timeout_seconds", "metadata"] as const;
const TASK_FIELDS = ["type", "runtime", "max_attempts", "timeout_seconds", "payload"] as const;
/** Tasks shown in the preview besides those with a problem. */
const PREVIEW_TASKS = 20;

type Parsed = { spec: Record<string, unknown> } | { error: string };

export function parseSpec(text: string): Parsed {
  if (!text.trim()) return { error: "Paste or upload a job spec (JSON)." };
  try {
    const spec = JSON.parse(text) as unknown;
    if (typeof spec !== "object" || spec === null || Array.isArray(spec)) {
      return { error: "A job spec is a JSON object with a name and tasks." };
    }
    return { spec: spec as Record<string, unknown> };
  } catch (error) {
    return { error: `Not valid JSON: ${(error as Error).message}` };
  }
}

/** What can be told before asking the API (which checks everything, task types included). */
export function checkSpec(spec: Record<string, unknown>): Problems {
  const fields: Record<string, string> = {};
  if (typeof spec.name !== "string" || !spec.name.trim()) fields.name = "A job needs a name.";
  if (!Array.isArray(spec.tasks) || spec.tasks.length === 0) {
    fields.tasks = "A job needs a list of at least one task.";
  } else {
    spec.tasks.forEach((task, i) => {
      if (typeof task !== "object" || task === null || Array.isArray(task)) fields[`tasks.${i}`] = "A task is an object.";
      else if (typeof (task as Record<string, unknown>).type !== "string") fields[`tasks.${i}.type`] = "Field required";
    });
  }
  return { fields, general: [] };
}

function readText(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(file);
  });
}

function show(value: unknown): string {
  if (value === undefined) return "—";
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function FieldError({ path, problems }: { path: string; problems: Problems }) {
  const message = problems.fields[path];
  return message ? (
    <span className="field-error" data-field={path} role="alert">
      {message}
    </span>
  ) : null;
}

/** Submit a job: paste or upload its spec; every problem is shown next to the field it is about. */
export function SubmitJob() {
  const api = useApi();
  const [text, setText] = useState(JSON.stringify(EXAMPLE_SPEC, null, 2));
  const [problems, setProblems] = useState<Problems>({ fields: {}, general: [] });
  const [busy, setBusy] = useState(false);
  const parsed = useMemo(() => parseSpec(text), [text]);

  function edit(next: string) {
    setText(next);
    setProblems({ fields: {}, general: [] });
  }

  async function upload(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    if (file) edit(await readText(file));
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if ("error" in parsed) return;
    const local = checkSpec(parsed.spec);
    if (Object.keys(local.fields).length) {
      setProblems(local);
      return;
    }
    setBusy(true);
    try {
      const created = await api.submitJob(parsed.spec);
      navigate({ name: "job", jobId: created.job_id });
    } catch (error) {
      if (error instanceof ApiError) setProblems(error.problems);
      else setProblems({ fields: {}, general: [String(error)] });
    } finally {
      setBusy(false);
    }
  }

  const spec = "spec" in parsed ? parsed.spec : null;
  const tasks = spec && Array.isArray(spec.tasks) ? (spec.tasks as unknown[]) : [];
  const taskRows = tasks
    .map((task, index) => ({ task, index }))
    .filter(({ index }) => index < PREVIEW_TASKS || Object.keys(problems.fields).some((p) => p.startsWith(`tasks.${index}`)));
  const known = new Set<string>(["tasks", ...JOB_FIELDS]);
  const otherProblems = Object.keys(problems.fields).filter((p) => !known.has(p.split(".")[0]));

  return (
    <section>
      <h1>Submit a job</h1>
      <form onSubmit={submit} aria-label="Submit a job" className="submit">
        <div className="editor">
          <label htmlFor="spec">Job spec (JSON)</label>
          <textarea
            id="spec"
            name="spec"
            spellCheck={false}
            rows={18}
            value={text}
            aria-invalid={"error" in parsed}
            onChange={(e) => edit(e.target.value)}
          />
          {"error" in parsed ? (
            <span className="field-error" role="alert" data-field="spec">
              {parsed.error}
            </span>
          ) : null}
          <div className="editor-actions">
            <label className="button secondary">
              Upload a file…
              <input type="file" accept=".json,application/json" onChange={upload} hidden data-testid="spec-file" />
            </label>
            <button type="button" className="secondary" onClick={() => edit(JSON.stringify(EXAMPLE_SPEC, null, 2))}>
              Example
            </button>
            <button type="submit" disabled={busy || "error" in parsed}>
              {busy ? "Submitting…" : "Submit"}
            </button>
          </div>
          {problems.general.length ? (
            <ul role="alert" className="error">
              {problems.general.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          ) : null}
        </div>
        {spec ? (
          <div className="preview" aria-label="Spec preview">
            <h2>Job</h2>
            <dl className="fields">
              {JOB_FIELDS.map((field) => (
                <div key={field} className={problems.fields[field] ? "field invalid" : "field"}>
                  <dt>{field}</dt>
                  <dd>
                    {show(spec[field])} <FieldError path={field} problems={problems} />
                  </dd>
                </div>
              ))}
              {otherProblems.map((path) => (
                <div key={path} className="field invalid">
                  <dt>{path}</dt>
                  <dd>
                    <FieldError path={path} problems={problems} />
                  </dd>
                </div>
              ))}
            </dl>
            <h2>
              Tasks <span className="muted small">{tasks.length.toLocaleString()}</span>
            </h2>
            <FieldError path="tasks" problems={problems} />
            {taskRows.length ? (
              <table className="table compact" aria-label="Tasks to submit">
                <thead>
                  <tr>
                    <th>#</th>
                    {TASK_FIELDS.map((f) => (
                      <th key={f}>{f}</th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {taskRows.map(({ task, index }) => {
                    const row = (typeof task === "object" && task !== null ? task : {}) as Record<string, unknown>;
                    const rowProblems = Object.keys(problems.fields).filter(
                      (p) => p.startsWith(`tasks.${index}`) && !TASK_FIELDS.some((f) => p === `tasks.${index}.${f}`),
                    );
                    return (
                      <tr key={index} data-task-index={index}>
                        <td className="mono">{index}</td>
                        {TASK_FIELDS.map((f) => (
                          <td key={f} className={problems.fields[`tasks.${index}.${f}`] ? "invalid" : undefined}>
                            {show(row[f])} <FieldError path={`tasks.${index}.${f}`} problems={problems} />
                            {f === "payload"
                              ? rowProblems.map((p) => (
                                  <div key={p}>
                                    <span className="muted small">{p.split(".").slice(2).join(".") || "task"}: </span>
                                    <FieldError path={p} problems={problems} />
                                  </div>
                                ))
                              : null}
                          </td>
                        ))}
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            ) : null}
            {tasks.length > taskRows.length ? (
              <p className="muted small">and {(tasks.length - taskRows.length).toLocaleString()} more tasks</p>
            ) : null}
          </div>
        ) : null}
      </form>
    </section>
  );
}
