import { describe, expect, it } from 'vitest';
import { imageNameOfFile } from '../src/cli/image-commands';
import { parseImageReference } from '../src/registry/image-reference';
import { defaultPullName } from '../src/services/image-pulls';

const pullName = (reference: string) => defaultPullName(parseImageReference(reference));

describe('the name a pulled image gets', () => {
  it('is the last part of the repository and the tag, latest for a digest or no tag', () => {
    expect(pullName('alpine:3')).toBe('alpine:3');
    expect(pullName('docker.io/library/alpine')).toBe('alpine:latest');
    expect(pullName(`127.0.0.1:5000/team/app@sha256:${'a'.repeat(64)}`)).toBe('app:latest');
    expect(pullName(`127.0.0.1:5000/team/app:v2@sha256:${'a'.repeat(64)}`)).toBe('app:v2');
  });

  it('is refused (INVALID_INPUT, field name) when the repository part cannot be an image name', () => {
    expect(() => pullName(`team/${'a'.repeat(70)}:v1`)).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', details: { field: 'name' } }),
    );
  });
});

describe('the name an imported file gets', () => {
  it('is the file name without its archive suffixes', () => {
    expect(imageNameOfFile('/tmp/alpine.tar.gz')).toBe('alpine');
    expect(imageNameOfFile('web.tar')).toBe('web');
    expect(imageNameOfFile('app-1.2.tar.zst')).toBe('app-1.2');
    expect(imageNameOfFile('layout.oci.tgz')).toBe('layout');
  });

  it('asks for --name when the file name cannot be an image name', () => {
    expect(() => imageNameOfFile('My Image.tar')).toThrow(/--name/);
  });
});
