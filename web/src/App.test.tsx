import { act, screen } from "@testing-library/react";
import { render } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expect, test } from "vitest";
import { App } from "./App";
import { CONFIG, FakeSocket, fakeFetch, makeJob } from "./test/fakes";

test("signing in with an API key opens the jobs, live over the WebSocket, until signing out", async () => {
  FakeSocket.all = [];
  const { impl, calls } = fakeFetch([["GET", /\/v1\/jobs$/, () => ({ body: { items: [makeJob()], next_token: null } })]]);
  render(<App config={CONFIG} fetchImpl={impl} socketFactory={FakeSocket.factory} />);
  await userEvent.type(screen.getByLabelText("API key"), "tlk_k");
  await userEvent.click(screen.getByRole("button", { name: "Use API key" }));
  expect(await screen.findByRole("link", { name: "nightly" })).toHaveAttribute("href", "#/jobs/job-1");
  expect(calls[0].url.toString()).toBe("https://api.example/v1/jobs?limit=20");
  expect(FakeSocket.last().url).toBe("wss://ws.example/live?token=ApiKey%20tlk_k");
  expect(screen.getByTestId("live-state")).toHaveTextContent("connecting");
  act(() => FakeSocket.last().open());
  expect(screen.getByTestId("live-state")).toHaveTextContent("live");
  await userEvent.click(screen.getByRole("button", { name: "Sign out" }));
  expect(screen.getByRole("button", { name: "Use API key" })).toBeInTheDocument();
  expect(sessionStorage.length).toBe(0);
});
