import { describe, expect, it } from 'vitest';
import { formatImageReference, manifestRef, parseImageReference } from '../src/registry/image-reference';
import { parseChallenge } from '../src/registry/registry-auth';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it('reads Docker Hub short names under library/, with latest as the default tag', () => {
    expect(parseImageReference('alpine')).toEqual({
      registry: 'docker.io',
      apiBase: 'https://registry-1.docker.io',
      repository: 'library/alpine',
      tag: 'latest',
    });
    expect(parseImageReference('docker.io/library/alpine:3')).toMatchObject({ repository: 'library/alpine', tag: '3' });
    expect(parseImageReference('bitnami/redis:7.2')).toMatchObject({ registry: 'docker.io', repository: 'bitnami/redis', tag: '7.2' });
  });

  it('takes a first component with a dot, a port or localhost as the registry', () => {
    expect(parseImageReference('127.0.0.1:5000/nagaya/p/web:v1', ['127.0.0.1:5000'])).toEqual({
      registry: '127.0.0.1:5000',
      apiBase: 'http://127.0.0.1:5000',
      repository: 'nagaya/p/web',
      tag: 'v1',
    });
    expect(parseImageReference('localhost/x').apiBase).toBe('https://localhost');
    expect(parseImageReference(`ghcr.io/o/r@${D}`)).toEqual({
      registry: 'ghcr.io',
      apiBase: 'https://ghcr.io',
      repository: 'o/r',
      digest: D,
    });
    const both = parseImageReference(`quay.io/o/r:1@${D}`);
    expect([both.tag, both.digest, manifestRef(both)]).toEqual(['1', D, D]);
    expect(formatImageReference(both)).toBe(`quay.io/o/r:1@${D}`);
  });

  it('refuses what is not a reference, naming the part', () => {
    for (const [bad, part] of [
      ['', /1 to 512/],
      ['UPPER/case', /repository/],
      ['a/../b', /repository/],
      ['x@sha256:abc', /digest/],
      ['x:bad tag', /tag/],
      ['x:-lead', /tag/],
      ['exa mple.com/x', /repository|registry/],
      ['a'.repeat(600), /1 to 512/],
      ['x//y', /repository/],
    ] as const) {
      expect(() => parseImageReference(bad), bad).toThrow(part);
    }
  });
});

describe('parseChallenge', () => {
  it('reads a Bearer challenge with quoted parameters, and Basic', () => {
    expect(
      parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    });
    expect(parseChallenge('Basic realm="x\\"y"')).toEqual({ scheme: 'basic', params: { realm: 'x"y' } });
    expect(parseChallenge(null)).toBeUndefined();
    expect(parseChallenge('')).toBeUndefined();
  });
});
