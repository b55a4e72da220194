import { describe, expect, it } from 'vitest';
import { parseMountSpec as parseMount } from '@nagaya/contract';

describe('parseMountSpec (nagaya launch --mount, the dashboard)', () => {
  it('reads volume:NAME:/path[:ro] and host:/dir:/path[:ro][:shift]', () => {
    expect(parseMount('volume:data:/data')).toEqual({ volume: 'data', path: '/data' });
    expect(parseMount('volume:data:/srv/data:ro')).toEqual({ volume: 'data', path: '/srv/data', readOnly: true });
    expect(parseMount('host:/srv/x:/x')).toEqual({ hostPath: '/srv/x', path: '/x' });
    expect(parseMount('host:/srv/x:/x:shift:ro')).toEqual({ hostPath: '/srv/x', path: '/x', readOnly: true, shift: true });
  });

  it('refuses what is not one', () => {
    for (const bad of [
      '',
      'data:/data',
      'volume:data',
      'volume::/x',
      'volume:data:x',
      'volume:data:/x:shift',
      'host:x:/x',
      'host:/x:/y:rw',
      'host:/x:/y:ro:ro',
      'nfs:/x:/y',
    ]) {
      expect(parseMount(bad), bad).toBeUndefined();
    }
  });
});
