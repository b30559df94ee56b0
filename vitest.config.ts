import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/globalSetup.ts'],
    // Integration tests wait on real Postgres, Redis and child processes; none waits on a clock.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
