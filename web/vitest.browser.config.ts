import { defineConfig } from "vitest/config";

// The browser test: Debian's Chromium driven by playwright-core against the local platform (`make up`).
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.test.ts"],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    reporters: ["default"],
  },
});
