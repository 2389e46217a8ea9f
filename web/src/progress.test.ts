import { describe, expect, test } from "vitest";
import { makeJob } from "./test/fakes";
import { eta, formatDuration, formatRate, percentDone, RateMeter, throughput } from "./progress";

describe("progress, throughput and ETA", () => {
  test("the rate is measured over the observed window, and the ETA follows it", () => {
    const meter = new RateMeter(30_000);
    meter.add(10, 0);
    expect(meter.rate()).toBeNull();
    meter.add(30, 10_000);
    expect(meter.rate()).toBe(2);
    const job = makeJob({ done: 30 });
    expect(eta(job, meter.rate())).toBe(35);
    expect(formatDuration(35)).toBe("35 s");
    expect(formatDuration(3725)).toBe("1 h 2 min");
    expect(formatRate(2)).toBe("2.0 tasks/s");
  });

  test("a finished job's throughput is over its lifetime and it has no ETA", () => {
    const job = makeJob({ status: "SUCCEEDED", done: 100, updated_at: "2026-01-01T10:00:50.000Z" });
    expect(throughput(job, null)).toBe(2);
    expect(eta(job, 2)).toBeNull();
    expect(percentDone(job)).toBe(100);
  });

  test("a retry that reopens tasks restarts the measurement", () => {
    const meter = new RateMeter();
    meter.add(90, 0);
    meter.add(50, 1000);
    meter.add(60, 3000);
    expect(meter.rate()).toBe(5);
  });
});
