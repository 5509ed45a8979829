import { buddyVitestConfig } from '../../tooling/vitest/preset.ts';

export default buddyVitestConfig;
