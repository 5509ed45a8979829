import { defineConfig } from 'vitest/config';

/** Tests run against source: workspace imports resolve through the `@buddy/source` condition. */
const conditions = ['@buddy/source'];

export const buddyVitestConfig = defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    restoreMocks: true,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
