import { defineConfig } from "vitest/config";

// End-to-end suites: real servers (Prometheus from Debian's package, see test/support/prometheus.ts), one
// file at a time. Run with `npx vitest run -c vitest.e2e.config.ts`.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
