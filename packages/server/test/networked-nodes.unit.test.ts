import { describe, expect, it } from 'vitest';
import { NetworkedNodes } from '../src/services/networked-nodes';

describe('NetworkedNodes', () => {
  function fixture() {
    let clock = 0;
    let reads = 0;
    const nodes = new Set<string>(['a']);
    const store = {
      networkedNodes: async () => {
        reads++;
        return new Set(nodes);
      },
    };
    const networked = new NetworkedNodes(store, 1000, () => clock);
    return { networked, nodes, advance: (ms: number) => (clock += ms), reads: () => reads };
  }

  it('reads once a second at most, and shares one read among concurrent callers', async () => {
    const f = fixture();
    const [x, y] = await Promise.all([f.networked.get(), f.networked.get()]);
    expect([...x]).toEqual(['a']);
    expect(y).toBe(x);
    expect(f.reads()).toBe(1);
    f.nodes.add('b');
    f.advance(999);
    expect((await f.networked.get()).has('b')).toBe(false);
    expect(f.reads()).toBe(1);
    f.advance(1);
    expect((await f.networked.get()).has('b')).toBe(true);
    expect(f.reads()).toBe(2);
  });

  it('reads again when asked for a fresh set, and says whether it was read since a moment', async () => {
    const f = fixture();
    await f.networked.get();
    f.advance(10);
    const askedAt = 10;
    expect(f.networked.readSince(askedAt)).toBe(false);
    f.nodes.add('c');
    expect((await f.networked.get(true)).has('c')).toBe(true);
    expect(f.networked.readSince(askedAt)).toBe(true);
    expect(f.reads()).toBe(2);
  });
});
