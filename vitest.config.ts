import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // one migrated database image per run (test/helpers/global-setup.ts)
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
