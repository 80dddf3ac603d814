import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // The end-to-end suites start real servers and have their own config (vitest.e2e.config.ts).
    exclude: ["test/e2e/**", "node_modules/**", "dist/**"],
    testTimeout: 30_000,
  },
});
