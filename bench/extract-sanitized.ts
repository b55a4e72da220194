// `npm run bench:extract-sanitized`: the extractor fuzz corpus (the one
// packages/native/test/extract-fuzz.test.ts runs, from packages/native/test/support/extract-fuzz.ts)
// through nagaya-extract built from the same sources with AddressSanitizer, LeakSanitizer and
// UndefinedBehaviorSanitizer (dynamically linked: the sanitizers need their runtimes; stopping at
// the first report). Every archive is run by the real static executable and by the sanitized one,
// each into a fresh root beside the canary, with the fuzz test's checks, and the two answers must
// be the same line. Too slow for the test suite: ASan's start and LeakSanitizer's exit scan cost
// ~150 ms a run. Run as root (the extractor chowns). Exits 1 on any problem.
// Options: FUZZ_SEED (default the test's seed; more seeds, more archives), FUZZ_ARCHIVES (400,
// half hostile sequences, half mutated archives), FUZZ_KEEP=1 (keep the sanitized build).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { findExtractor } from '../packages/native/src';
import { checkRun, FUZZ_SEED, fuzzCorpus, makeCanary, runExtractor, snapshotCanary } from '../packages/native/test/support/extract-fuzz';

const SEED = Number(process.env.FUZZ_SEED ?? FUZZ_SEED);
const ARCHIVES = Number(process.env.FUZZ_ARCHIVES ?? 400);
const SOURCES = resolve(__dirname, '../packages/native/src/extract');
const SANITIZER_ENV = {
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0:exitcode=97:allocator_may_return_null=1',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=98',
};

function buildSanitized(dir: string): string {
  const out = join(dir, 'nagaya-extract');
  const sources = readdirSync(SOURCES)
    .filter((f) => f.endsWith('.c'))
    .map((f) => join(SOURCES, f));
  const cc = spawnSync(
    'cc',
    [
      '-std=gnu11',
      '-O1',
      '-g',
      '-fno-omit-frame-pointer',
      '-fsanitize=address,undefined',
      '-fno-sanitize-recover=all',
      '-Wall',
      '-Wextra',
      '-Wno-unused-parameter',
      '-Wno-format-truncation',
      '-o',
      out,
      ...sources,
    ],
    { encoding: 'utf8' },
  );
  if (cc.status !== 0) throw new Error(`cc failed:\n${cc.stderr}`);
  return out;
}

function main(): void {
  const build = mkdtempSync(join(tmpdir(), 'nagaya-extract-sanitized-'));
  const work = mkdtempSync(join(tmpdir(), 'nagaya-extract-fuzz-'));
  try {
    const started = Date.now();
    const sanitized = buildSanitized(build);
    const canary = makeCanary(work);
    const cases = fuzzCorpus({ seed: SEED, hostile: Math.ceil(ARCHIVES / 2), mutated: Math.floor(ARCHIVES / 2), canary });
    const before = JSON.stringify(snapshotCanary(canary));
    const extractor = findExtractor();
    const problems: string[] = [];
    const outcomes: Record<string, number> = {};
    cases.forEach((c, i) => {
      // Roots of the same length: a path limit in a message depends on it.
      const real = checkRun(c, runExtractor(extractor, join(work, `real-${i}`), c));
      const checked = checkRun(c, runExtractor(sanitized, join(work, `asan-${i}`), c, SANITIZER_ENV));
      problems.push(...real.problems, ...checked.problems.map((p) => `(sanitized) ${p}`));
      if (checked.report !== real.report)
        problems.push(`${c.label}: the sanitized build answered ${checked.report}, the real one ${real.report}`);
      if (JSON.stringify(snapshotCanary(canary)) !== before) problems.push(`${c.label}: the canary changed`);
      const outcome = (JSON.parse(real.report) as { error?: { code: string } }).error?.code ?? 'OK';
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    });
    for (const p of problems) console.log(p);
    const summary = { seed: SEED, archives: cases.length, outcomes, problems: problems.length, seconds: (Date.now() - started) / 1000 };
    console.log(JSON.stringify(summary));
    if (problems.length) process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
    if (process.env.FUZZ_KEEP === '1') console.log(`sanitized build kept in ${build}`);
    else rmSync(build, { recursive: true, force: true });
  }
}

main();
