import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import { fakeFetch } from "../test/fakes";
import { renderWithPlatform } from "../test/render";
import { DeadLetters } from "./DeadLetters";

test("dead letters are grouped by error, and a group is redriven at once", async () => {
  let groups = [
    {
      fingerprint: "fp1",
      task_type: "fail",
      error_class: "TaskFailure",
      message: "the disk is full",
      count: 3,
      job_ids: ["job-a", "job-b"],
      sample_task_ids: ["t00000001"],
      sample_error: "TaskFailure: the disk is full",
    },
  ];
  const { impl, calls } = fakeFetch([
    ["GET", /\/dlq$/, () => ({ body: { groups, total: groups.reduce((n, g) => n + g.count, 0), truncated: false } })],
    [
      "POST",
      /\/dlq\/redrive$/,
      () => {
        groups = [];
        return { status: 202, body: { redriven: 3, runs: { "job-a": 1, "job-b": 1 }, skipped: [] } };
      },
    ],
  ]);
  renderWithPlatform(<DeadLetters />, impl);
  const group = await screen.findByRole("article", { name: "Dead letters: TaskFailure" });
  expect(within(group).getByTestId("dead-count")).toHaveTextContent("3");
  expect(within(group).getByRole("link", { name: "job-a" })).toHaveAttribute("href", "#/jobs/job-a");
  expect(screen.getByText(/3 dead tasks in 1 group/)).toBeInTheDocument();
  await userEvent.click(within(group).getByRole("button", { name: "Redrive" }));
  expect(calls.find((c) => c.method === "POST")?.body).toEqual({ fingerprint: "fp1" });
  expect(await screen.findByText("No dead letters.")).toBeInTheDocument();
});
