import { render, screen } from "@testing-library/react";
import { expect, test } from "vitest";
import { ProgressBar } from "./ProgressBar";

test("the bar shows finished tasks, by outcome, as a share of all", () => {
  render(<ProgressBar counts={{ total: 200, pending: 50, running: 10, succeeded: 120, failed: 20, cancelled: 10 }} />);
  const bar = screen.getByRole("progressbar", { name: "tasks finished" });
  expect(bar).toHaveAttribute("aria-valuenow", "75");
  expect(screen.getByTestId("progress-label")).toHaveTextContent("75% · 150 / 200");
  const widths = [...bar.querySelectorAll<HTMLElement>(".seg")].map((s) => s.style.width);
  expect(widths).toEqual(["60%", "10%", "5%", "5%"]);
});

test("an empty job is at 0%", () => {
  render(<ProgressBar counts={{ total: 0, pending: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 }} />);
  expect(screen.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "0");
});
