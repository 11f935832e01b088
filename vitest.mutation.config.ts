import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// The suite's config, for mutation testing (scripts/mutation.ts): instrumented code under a loaded
// machine runs several times slower, and a test that times out in the first run stops a module's run.
export default mergeConfig(base, defineConfig({ test: { testTimeout: 120_000, hookTimeout: 120_000 } }));
