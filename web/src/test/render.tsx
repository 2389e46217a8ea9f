import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { ApiContext } from "../api/ApiContext";
import { ApiClient } from "../api/client";
import { LiveClient } from "../live/LiveClient";
import { LiveProvider } from "../live/LiveContext";
import { FakeSocket } from "./fakes";

/** Renders `ui` with an ApiClient over `fetchImpl` and a LiveClient over a FakeSocket (opened). */
export function renderWithPlatform(ui: ReactElement, fetchImpl: typeof fetch) {
  FakeSocket.all = [];
  const api = new ApiClient("https://api.example/v1/", "ApiKey k", fetchImpl);
  const live = new LiveClient({ url: "wss://ws.example/live", authorization: "ApiKey k", socketFactory: FakeSocket.factory });
  const result = render(
    <ApiContext.Provider value={api}>
      <LiveProvider client={live}>{ui}</LiveProvider>
    </ApiContext.Provider>,
  );
  const socket = FakeSocket.last();
  return { ...result, api, live, socket };
}
