import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';

const dataDir = mkdtempSync(join(tmpdir(), 'nagaya-registry-config-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const load = (env: Record<string, string>) =>
  loadConfig({ NAGAYA_NODE_NAME: 'n1', DATABASE_URL: 'postgres://x', REDIS_URL: 'redis://x', NAGAYA_DATA_DIR: dataDir, ...env });

describe('NAGAYA_REGISTRY_URL, NAGAYA_INSECURE_REGISTRIES', () => {
  it('has no registry until ensure-services.sh wrote one or the environment names one; none turns it off', () => {
    expect(load({}).registryUrl).toBeUndefined();
    mkdirSync(join(dataDir, 'secrets'), { recursive: true });
    writeFileSync(join(dataDir, 'secrets', 'registry-url'), 'http://nagaya:pw@127.0.0.1:5000\n', { mode: 0o600 });
    expect(load({}).registryUrl).toBe('http://nagaya:pw@127.0.0.1:5000');
    expect(load({ NAGAYA_REGISTRY_URL: 'https://r.example:443' }).registryUrl).toBe('https://r.example:443');
    expect(load({ NAGAYA_REGISTRY_URL: 'none' }).registryUrl).toBeUndefined();
    expect(load({ NAGAYA_INSECURE_REGISTRIES: ' 127.0.0.1:5000, localhost:5001 ,' }).insecureRegistries).toEqual([
      '127.0.0.1:5000',
      'localhost:5001',
    ]);
  });

  it('refuses what is not a registry URL without echoing its credentials', () => {
    for (const bad of ['ftp://u:secret@x', 'http://u:secret@x/v2/', 'not a url secret']) {
      let message = '';
      try {
        load({ NAGAYA_REGISTRY_URL: bad });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, bad).toMatch(/NAGAYA_REGISTRY_URL must be/);
      expect(message).not.toContain('secret');
    }
  });
});
