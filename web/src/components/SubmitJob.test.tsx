import { fireEvent, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expect, test, vi } from "vitest";
import { fakeFetch } from "../test/fakes";
import { renderWithPlatform } from "../test/render";
import { SubmitJob } from "./SubmitJob";

function typeSpec(spec: unknown) {
  fireEvent.change(screen.getByLabelText("Job spec (JSON)"), { target: { value: typeof spec === "string" ? spec : JSON.stringify(spec) } });
}

test("text that is not JSON is flagged under the editor and cannot be submitted", async () => {
  renderWithPlatform(<SubmitJob />, fakeFetch([]).impl);
  typeSpec("{ nope");
  expect(screen.getByRole("alert")).toHaveTextContent(/Not valid JSON/);
  expect(screen.getByRole("button", { name: "Submit" })).toBeDisabled();
});

test("what can be checked here is checked before asking the API", async () => {
  const { impl, calls } = fakeFetch([]);
  renderWithPlatform(<SubmitJob />, impl);
  typeSpec({ name: "", tasks: [{ payload: {} }] });
  await userEvent.click(screen.getByRole("button", { name: "Submit" }));
  expect(screen.getByText("A job needs a name.")).toHaveAttribute("data-field", "name");
  const row = screen.getByRole("table", { name: "Tasks to submit" }).querySelector('tr[data-task-index="0"]') as HTMLElement;
  expect(within(row).getByText("Field required")).toHaveAttribute("data-field", "tasks.0.type");
  expect(calls).toHaveLength(0);
});

test("the API's validation errors are shown next to the fields they name", async () => {
  const { impl } = fakeFetch([
    [
      "POST",
      /\/jobs$/,
      () => ({
        status: 422,
        body: {
          error: {
            code: "validation_error",
            message:
              "body.max_concurrency: Input should be greater than or equal to 1; body.tasks.1.max_attempts: Input should be less than or equal to 20; body.tasks.1.colour: Extra inputs are not permitted; body.priority: Extra inputs are not permitted",
          },
        },
      }),
    ],
  ]);
  renderWithPlatform(<SubmitJob />, impl);
  typeSpec({ name: "n", max_concurrency: 0, priority: 1, tasks: [{ type: "echo" }, { type: "echo", max_attempts: 99, colour: "red" }] });
  await userEvent.click(screen.getByRole("button", { name: "Submit" }));
  const preview = await screen.findByLabelText("Spec preview");
  expect(within(preview).getByText("Input should be greater than or equal to 1")).toHaveAttribute("data-field", "max_concurrency");
  const row = preview.querySelector('tr[data-task-index="1"]') as HTMLElement;
  expect(within(row).getByText("Input should be less than or equal to 20")).toHaveAttribute("data-field", "tasks.1.max_attempts");
  expect(within(row).getByText("Extra inputs are not permitted")).toHaveAttribute("data-field", "tasks.1.colour");
  expect(within(preview).getAllByText("Extra inputs are not permitted")[0]).toHaveAttribute("data-field", "priority");
});

test("a spec can be uploaded from a file; a valid one is submitted and its page opens", async () => {
  const { impl, calls } = fakeFetch([["POST", /\/jobs$/, () => ({ status: 201, body: { job_id: "new-job", status: "PENDING" } })]]);
  renderWithPlatform(<SubmitJob />, impl);
  const spec = { name: "from a file", tasks: [{ type: "echo", payload: { a: 1 } }] };
  const file = new File([JSON.stringify(spec)], "job.json", { type: "application/json" });
  await userEvent.upload(screen.getByTestId("spec-file"), file);
  await screen.findByDisplayValue(/from a file/);
  await userEvent.click(screen.getByRole("button", { name: "Submit" }));
  await vi.waitFor(() => expect(window.location.hash).toBe("#/jobs/new-job"));
  expect(calls[0].body).toEqual(spec);
});
