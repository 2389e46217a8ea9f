/// <reference types="vitest/config" />
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

// `npm run dev` answers /config.json from the local platform's (written by `make up`), as the local
// dashboard server does; deployed, the DashboardStack writes it beside the build.
function localConfig(): Plugin {
  const file = fileURLToPath(new URL("../.local/dashboard/config.json", import.meta.url));
  return {
    name: "tasklane-local-config",
    configureServer(server) {
      server.middlewares.use("/config.json", (_req, res) => {
        try {
          res.setHeader("content-type", "application/json");
          res.end(readFileSync(file));
        } catch {
          res.statusCode = 404;
          res.end('{"error": "no .local/dashboard/config.json: run make up"}');
        }
      });
    },
  };
}

export default defineConfig({
  // Relative asset URLs: the same build works at any path (S3 + CloudFront, or the local server).
  base: "./",
  plugins: [react(), localConfig()],
  // amazon-cognito-identity-js bundles the `buffer` polyfill, which reads Node's `global` unguarded.
  define: { global: "globalThis" },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
  },
});
