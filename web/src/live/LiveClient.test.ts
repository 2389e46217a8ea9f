import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { FakeSocket, makeJob } from "../test/fakes";
import { LiveClient } from "./LiveClient";

function client() {
  return new LiveClient({
    url: "wss://ws.example/live",
    authorization: "Bearer a.b c",
    socketFactory: FakeSocket.factory,
    backoffMs: [100, 1000],
    random: () => 1,
  });
}

describe("LiveClient", () => {
  beforeEach(() => {
    FakeSocket.all = [];
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  test("connects with the credential in the token query parameter and subscribes once open", () => {
    const live = client();
    live.watchTenant(() => {});
    live.watchJob("job-1", () => {});
    live.start();
    const socket = FakeSocket.last();
    expect(socket.url).toBe("wss://ws.example/live?token=Bearer%20a.b%20c");
    expect(live.state).toBe("connecting");
    socket.open();
    expect(live.state).toBe("open");
    expect(socket.sent).toEqual([{ action: "subscribe" }, { action: "subscribe", job_id: "job-1" }]);
  });

  test("applies newer events, drops older ones, and always applies snapshots", () => {
    const live = client();
    const seen: [number, number, boolean][] = [];
    live.watchJob("job-1", (job, info) => seen.push([info.seq, job.counts.succeeded, info.snapshot]));
    live.start();
    const socket = FakeSocket.last();
    socket.open();
    socket.push({ type: "subscribed", scope: "job", job_id: "job-1", snapshot: true, events: [{ seq: 4, job: makeJob({ done: 40 }) }] });
    socket.push({ type: "job", seq: 5, job: makeJob({ done: 50 }) });
    socket.push({ type: "job", seq: 3, job: makeJob({ done: 30 }) }); // late: older than what is shown
    socket.push({ type: "job", seq: 5, job: makeJob({ done: 50 }) }); // duplicate
    socket.push({ type: "job", seq: 6, job: makeJob({ job_id: "other", done: 1 }) }); // not followed
    expect(seen).toEqual([
      [4, 40, true],
      [5, 50, false],
    ]);
    expect(live.sequence("job-1")).toBe(5);
  });

  test("reconnects after a drop and resubscribes with the last sequence it holds", () => {
    const live = client();
    live.watchJob("job-1", () => {});
    live.start();
    const first = FakeSocket.last();
    first.open();
    first.push({ type: "job", seq: 7, job: makeJob() });
    first.drop();
    expect(live.state).toBe("connecting");
    vi.advanceTimersByTime(99);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    const second = FakeSocket.last();
    expect(second).not.toBe(first);
    second.drop(); // refused again: waits longer
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    const third = FakeSocket.last();
    third.open();
    expect(third.sent).toEqual([{ action: "subscribe", job_id: "job-1", last_seq: 7 }]);
  });

  test("the last listener of a job unsubscribes it; stop closes for good", () => {
    const live = client();
    live.start();
    const socket = FakeSocket.last();
    socket.open();
    const stopA = live.watchJob("job-1", () => {});
    const stopB = live.watchJob("job-1", () => {});
    stopA();
    expect(socket.sent).toEqual([{ action: "subscribe", job_id: "job-1" }]);
    stopB();
    expect(socket.sent[1]).toEqual({ action: "unsubscribe", job_id: "job-1" });
    live.stop();
    expect(live.state).toBe("closed");
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  test("pings so that API Gateway does not close an idle connection", () => {
    const live = new LiveClient({ url: "wss://x", authorization: "ApiKey k", socketFactory: FakeSocket.factory, pingMs: 1000 });
    live.start();
    FakeSocket.last().open();
    vi.advanceTimersByTime(2000);
    expect(FakeSocket.last().sent).toEqual([{ action: "ping" }, { action: "ping" }]);
    live.stop();
  });
});
