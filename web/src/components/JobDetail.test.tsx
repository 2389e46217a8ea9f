import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, test } from "vitest";
import { fakeFetch, makeJob, makeTask } from "../test/fakes";
import { renderWithPlatform } from "../test/render";
import { JobDetail } from "./JobDetail";

function platform(job = makeJob({ done: 10 })) {
  let current = job;
  const failed = makeTask(7, { status: "FAILED", attempts: 3, result: null, error: "TaskFailure: the disk is full" });
  return fakeFetch([
    ["GET", /\/jobs\/job-1$/, () => ({ body: current })],
    [
      "GET",
      /\/jobs\/job-1\/tasks$/,
      (url) => ({
        body: {
          items: url.searchParams.get("status") === "FAILED" ? [failed] : [makeTask(0), makeTask(1, { status: "RUNNING", progress: 0.5, progress_message: "half" }), failed],
          next_token: null,
        },
      }),
    ],
    [
      "GET",
      /\/jobs\/job-1\/tasks\/t00000007$/,
      () => ({
        body: {
          ...failed,
          payload: { message: "the disk is full" },
          max_attempts: 3,
          run: 0,
          history: [{ attempt: 3, status: "FAILED", error: "TaskFailure: the disk is full", finished_at: "2026-01-01T10:01:00Z" }],
          created_at: "t",
          updated_at: "t",
        },
      }),
    ],
    [
      "POST",
      /\/jobs\/job-1\/cancel$/,
      () => {
        current = { ...current, stopping: "cancelled" };
        return { status: 202, body: current };
      },
    ],
  ]);
}

describe("JobDetail", () => {
  test("shows the job's progress and counts, then follows pushed updates to done", async () => {
    const { impl, calls } = platform();
    const { socket } = renderWithPlatform(<JobDetail jobId="job-1" />, impl);
    expect(await screen.findByRole("heading", { name: "nightly" })).toBeInTheDocument();
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "10");
    act(() => socket.open());
    expect(socket.sent).toContainEqual({ action: "subscribe", job_id: "job-1" });

    act(() => socket.push({ type: "job", seq: 1, job: makeJob({ done: 60 }) }));
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "60");
    expect(screen.getByTestId("count-succeeded")).toHaveTextContent("60");
    act(() => socket.push({ type: "job", seq: 2, job: makeJob({ done: 100, status: "SUCCEEDED", updated_at: "2026-01-01T10:00:50.000Z" }) }));
    expect(screen.getByTestId("job-status")).toHaveTextContent("SUCCEEDED");
    expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
    expect(screen.getByTestId("throughput")).toHaveTextContent("2.0 tasks/s");
    expect(screen.getByTestId("eta")).toHaveTextContent("done");
    expect(screen.getByRole("button", { name: "Cancel job" })).toBeDisabled();
    // the job itself was fetched once; everything after came from the socket
    expect(calls.filter((c) => c.url.pathname.endsWith("/jobs/job-1"))).toHaveLength(1);
  });

  test("lists tasks with attempts, progress and errors; a failed one opens with its error and history", async () => {
    const { impl } = platform();
    renderWithPlatform(<JobDetail jobId="job-1" />, impl);
    const table = await screen.findByRole("table", { name: "Tasks" });
    expect(await within(table).findByText("50% half")).toBeInTheDocument();
    await userEvent.click(within(screen.getByRole("group", { name: "Filter tasks by status" })).getByRole("button", { name: "FAILED" }));
    await within(table).findByText("TaskFailure: the disk is full");
    expect(within(table).getAllByRole("row")).toHaveLength(2);
    await userEvent.click(within(table).getByText("TaskFailure: the disk is full"));
    const panel = await screen.findByRole("complementary", { name: "Task t00000007" });
    expect(await within(panel).findByTestId("task-error")).toHaveTextContent("TaskFailure: the disk is full");
    expect(within(panel).getByRole("table", { name: "Attempts" })).toHaveTextContent("3FAILED");
  });

  test("cancel asks the API and shows the job stopping; retry waits for failed tasks of a finished job", async () => {
    const { impl, calls } = platform();
    renderWithPlatform(<JobDetail jobId="job-1" />, impl);
    await screen.findByRole("heading", { name: "nightly" });
    expect(screen.getByRole("button", { name: "Retry failed tasks" })).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    expect(await screen.findByRole("status")).toHaveTextContent("Cancelling");
    expect(calls.some((c) => c.method === "POST" && c.url.pathname.endsWith("/cancel"))).toBe(true);
    expect(screen.getByTestId("job-status")).toHaveTextContent("RUNNING · cancelled…");
    expect(screen.getByRole("button", { name: "Cancel job" })).toBeDisabled();
  });

  test("an unknown job says so", async () => {
    const { impl } = fakeFetch([]);
    renderWithPlatform(<JobDetail jobId="nope" />, impl);
    expect(await screen.findByRole("alert")).toHaveTextContent("no route GET /v1/jobs/nope");
  });
});
