import { defineConfig, mergeConfig } from 'vitest/config';
import { buddyVitestConfig } from '../../tooling/vitest/preset.ts';

// The browser tests load the built UI: build it first, so `pnpm test` works on a fresh clone.
export default mergeConfig(
  buddyVitestConfig,
  defineConfig({ test: { globalSetup: ['./test/build-ui.ts'] } }),
);
