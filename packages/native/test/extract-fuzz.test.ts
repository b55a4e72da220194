// nagaya-extract as an attacker sees it: a few hundred archives from a seeded PRNG (mutated valid
// archives and random hostile entry sequences, see support/extract-fuzz.ts), each run by the real
// executable into a fresh root beside a canary directory. After each run: the extractor exited,
// not by a signal, with INVALID_INPUT, PAYLOAD_TOO_LARGE or success (never INTERNAL) and one JSON
// line saying so; the canary and /etc/shadow are untouched and nothing appeared beside the root;
// the root holds only files, directories and symlinks owned within 0..65535, no deeper than the
// depth limit, and every link of every file is inside it; the limits held. Every fourth archive
// also goes through extractArchive, which must remove the destination whenever it refuses.
// bench/extract-sanitized.ts runs the same corpus through an ASan and UBSan build.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';

import { extractArchive, findExtractor, NativeError } from '@nagaya/native';
import { checkRun, FUZZ_SEED, fuzzCorpus, makeCanary, runExtractor, snapshotCanary } from './support/extract-fuzz';

const work = mkdtempSync(join(tmpdir(), 'nagaya-extract-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const canary = makeCanary(work);
const cases = fuzzCorpus({ seed: FUZZ_SEED, hostile: 200, mutated: 200, canary });

describe('nagaya-extract under fuzzing', () => {
  it('survives a few hundred mutated and hostile archives without crashing, escaping or passing a limit', () => {
    const before = snapshotCanary(canary);
    const extractor = findExtractor();
    const outcomes: Record<string, number> = {};
    cases.forEach((c, i) => {
      const { report, problems } = checkRun(c, runExtractor(extractor, join(work, `root-${i}`), c));
      expect(problems).toEqual([]);
      expect(snapshotCanary(canary), `${c.label}: the canary`).toEqual(before);
      const outcome = (JSON.parse(report) as { error?: { code: string } }).error?.code ?? 'OK';
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    });
    // A corpus that mostly failed at its first header would prove little: enough of each outcome.
    expect(outcomes.OK, JSON.stringify(outcomes)).toBeGreaterThan(cases.length / 6);
    expect(outcomes.INVALID_INPUT, JSON.stringify(outcomes)).toBeGreaterThan(cases.length / 4);
    expect(outcomes.PAYLOAD_TOO_LARGE, JSON.stringify(outcomes)).toBeGreaterThan(cases.length / 20);
  });

  it('leaves nothing behind through extractArchive when it refuses (every fourth archive)', async () => {
    const before = snapshotCanary(canary);
    for (const [i, c] of cases.entries()) {
      if (i % 4 !== 0) continue;
      const dest = join(work, `dest-${i}`);
      const outcome = await extractArchive(Readable.from([c.archive]), dest, c.limits).then(
        (result) => ({ code: 'OK', entries: result.entries }),
        (err: unknown) => ({ code: err instanceof NativeError ? err.code : String(err) }),
      );
      expect(['OK', 'INVALID_INPUT', 'PAYLOAD_TOO_LARGE'], `${c.label}: ${JSON.stringify(outcome)}`).toContain(outcome.code);
      expect(existsSync(dest), `${c.label}: the destination after ${outcome.code}`).toBe(outcome.code === 'OK');
      rmSync(dest, { recursive: true, force: true });
    }
    expect(snapshotCanary(canary)).toEqual(before);
  });
});
