import { act, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import { fakeFetch, makeJob } from "../test/fakes";
import { renderWithPlatform } from "../test/render";
import { JobsList } from "./JobsList";

const older = makeJob({ job_id: "j-old", name: "older", created_at: "2026-01-01T09:00:00.000Z", status: "SUCCEEDED", done: 100 });
const newer = makeJob({ job_id: "j-new", name: "newer", created_at: "2026-01-01T10:00:00.000Z", done: 5 });

function rows() {
  return within(screen.getByRole("table", { name: "Jobs" }))
    .getAllByRole("row")
    .slice(1)
    .map((row) => row.getAttribute("data-job-id"));
}

test("lists the tenant's jobs newest first, filters by status and pages with next_token", async () => {
  const { impl, calls } = fakeFetch([
    [
      "GET",
      /\/jobs$/,
      (url) => {
        if (url.searchParams.get("status") === "SUCCEEDED") return { body: { items: [older], next_token: null } };
        if (url.searchParams.get("next_token") === "p2") return { body: { items: [older], next_token: null } };
        return { body: { items: [newer], next_token: "p2" } };
      },
    ],
  ]);
  renderWithPlatform(<JobsList />, impl);
  await screen.findByRole("link", { name: "newer" });
  expect(rows()).toEqual(["j-new"]);

  await userEvent.click(screen.getByRole("button", { name: "Older →" }));
  await screen.findByRole("link", { name: "older" });
  expect(calls[calls.length - 1].url.searchParams.get("next_token")).toBe("p2");
  expect(screen.getByRole("button", { name: "Older →" })).toBeDisabled();
  await userEvent.click(screen.getByRole("button", { name: "← Newer" }));
  await screen.findByRole("link", { name: "newer" });

  await userEvent.click(within(screen.getByRole("group", { name: "Filter by status" })).getByRole("button", { name: "SUCCEEDED" }));
  await screen.findByRole("link", { name: "older" });
  expect(calls[calls.length - 1].url.searchParams.get("status")).toBe("SUCCEEDED");
  expect(screen.getByRole("button", { name: "SUCCEEDED" })).toHaveAttribute("aria-pressed", "true");
});

test("rows follow pushed updates and new jobs appear on top of the first page", async () => {
  const { impl } = fakeFetch([["GET", /\/jobs$/, () => ({ body: { items: [newer, older], next_token: null } })]]);
  const { socket } = renderWithPlatform(<JobsList />, impl);
  await screen.findByRole("link", { name: "newer" });
  act(() => socket.open());
  expect(socket.sent).toEqual([{ action: "subscribe" }]);

  act(() => socket.push({ type: "job", seq: 3, job: { ...newer, status: "SUCCEEDED", updated_at: "2026-01-01T10:05:00.000Z" } }));
  const row = screen.getByRole("link", { name: "newer" }).closest("tr")!;
  expect(within(row).getByTestId("status")).toHaveTextContent("SUCCEEDED");

  const brandNew = makeJob({ job_id: "j-brand-new", name: "brand new", created_at: "2026-01-01T11:00:00.000Z" });
  act(() => socket.push({ type: "job", seq: 1, job: brandNew }));
  expect(rows()).toEqual(["j-brand-new", "j-new", "j-old"]);
});
