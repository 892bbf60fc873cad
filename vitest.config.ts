import { defineConfig } from 'vitest/config'

// One layout rule per layer:
// - unit: co-located `packages/*/src/**/*.test.ts` — in-process, with scripted engines and
//   servers at most; no child process, no llama-server, no Chromium (`npm run test:unit`).
// - fuzz: co-located `packages/*/src/**/*-fuzz.test.ts` — in-process too, thousands of
//   generated hostile inputs each; `npm test` runs them, `npm run test:unit` does not.
// - e2e: `e2e/*.test.ts` — whatever starts a process or a browser: the real llama-server on
//   the tiny stand-in, spawned servers and CLIs, ffmpeg, a mounted tmpfs, installed packages,
//   the page in Chromium.
export default defineConfig({
  test: {
    // Engine tests spawn llama-server; two cores are all CI has.
    testTimeout: 60_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 2,
    // The JSON report lets .ci/run print one plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'node_modules/.cache/vitest-report.json' }]],
    projects: [
      // One process runs many unit files (no per-file module reload): they restore what they
      // stub, and the suite is dominated by start-up costs otherwise.
      { extends: true, test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'], exclude: ['**/*-fuzz.test.ts'], isolate: false } },
      { extends: true, test: { name: 'fuzz', include: ['packages/*/src/**/*-fuzz.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['e2e/**/*.test.ts'] } },
    ],
  },
})
