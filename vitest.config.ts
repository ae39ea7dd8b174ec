import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // 2-core machines: ffmpeg and PGlite are CPU-heavy, so keep parallel files low.
    maxWorkers: 2,
  },
});
