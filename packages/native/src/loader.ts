import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

import { NativeError } from './errors';

/** The addon's exports (src/addon/addon.cc). */
export interface NativeAddon {
  spawnLauncher(launcherPath: string, stateDir: string, options?: string[]): { status: number; stderr: string };
  LauncherConnection: new (socketPath: string, onMessage: (msg: Buffer | null) => void) => LauncherConnectionHandle;
  /** Applies an nft script as one transaction through libnftables; rejects with code NFT_UNAVAILABLE or HOST_NETWORK. */
  nftRun(script: string): Promise<void>;
}

/** A connection to the launcher daemon, owned by the addon. */
export interface LauncherConnectionHandle {
  send(message: Buffer): void;
  close(): void;
  ref(): void;
  unref(): void;
}

// src/ when run from sources (tests), dist/ when compiled: the package root is one level up.
const packageRoot = resolve(__dirname, '..');
const buildDirs = ['build/Release', 'build/Debug'];

let cached: NativeAddon | undefined;

function candidates(envVar: string, fileName: string): string[] {
  const fromEnv = process.env[envVar];
  return [...(fromEnv ? [fromEnv] : []), ...buildDirs.map((d) => join(packageRoot, d, fileName))];
}

/** Loads the compiled addon; the error lists every path it looked in. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const tried = candidates('NAGAYA_NATIVE_ADDON', 'nagaya_native.node');
  const requireNative = createRequire(join(packageRoot, 'package.json'));
  const failures: string[] = [];
  for (const path of tried) {
    if (!existsSync(path)) {
      failures.push(`${path} (missing)`);
      continue;
    }
    try {
      cached = requireNative(path) as NativeAddon;
      return cached;
    } catch (err) {
      failures.push(`${path} (${(err as Error).message})`);
    }
  }
  throw new NativeError(
    `cannot load the nagaya native addon; build it with \`npm run build -w packages/native\`. Looked in: ${failures.join(', ')}`,
    { code: 'LOAD_FAILED', details: tried },
  );
}

function findExecutable(envVar: string, fileName: string): string {
  const tried = candidates(envVar, fileName);
  const found = tried.find((p) => existsSync(p));
  if (found) return found;
  throw new NativeError(
    `cannot find the ${fileName} executable; build it with \`npm run build -w packages/native\`. Looked in: ${tried.join(', ')}`,
    { code: 'LOAD_FAILED', details: tried },
  );
}

/** Finds the launcher executable; the error lists every path it looked in. */
export function findLauncher(): string {
  return findExecutable('NAGAYA_LAUNCHER', 'nagaya-launcher');
}

/** Finds the archive extractor executable (src/extract/); the error lists every path it looked in. */
export function findExtractor(): string {
  return findExecutable('NAGAYA_EXTRACT', 'nagaya-extract');
}
