import { defineConfig, mergeConfig } from 'vitest/config';
import { buddyVitestConfig } from '../vitest/preset.ts';

// One global setup packs and installs everything once; the test files share that installation.
export default mergeConfig(
  buddyVitestConfig,
  defineConfig({
    test: {
      include: ['src/**/*.test.ts'],
      globalSetup: ['./src/global-setup.ts'],
      testTimeout: 120_000,
      hookTimeout: 120_000,
    },
  }),
);
