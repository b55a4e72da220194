import type { ImageView } from '@nagaya/contract';
import { describe, expect, it } from 'vitest';
import {
  imageNameOfFile,
  layerBarPercent,
  layerOwners,
  percentOf,
  sharedLayerColour,
  sharedLayerCount,
  shortDigest,
} from '../dashboard/src/image-model';
import { IMAGE_NAME } from '@nagaya/contract';

const image = (project: string, name: string, diffIds: string[]): ImageView => ({
  project,
  name,
  format: 'oci-layout',
  digest: null,
  sizeBytes: 0,
  files: 0,
  source: 'upload',
  reference: null,
  layers: diffIds.map((diffId) => ({ diffId, sizeBytes: 1 })),
  config: { entrypoint: null, cmd: null, env: [], workingDir: null, user: null },
  nodes: [],
  createdAt: '2026-12-07T00:00:00Z',
});

describe("the Images page's model", () => {
  it('suggests an image name from a file name: extensions gone, what a name may not hold turned into -', () => {
    expect(imageNameOfFile('alpine-3.tar.gz')).toBe('alpine-3');
    expect(imageNameOfFile('web.oci.tar.zst')).toBe('web');
    expect(imageNameOfFile('C:\\Users\\me\\My Image.TGZ')).toBe('my-image');
    expect(imageNameOfFile('tiny.tar')).toBe('tiny');
    expect(imageNameOfFile('.tar')).toBe('');
    expect(imageNameOfFile('--x--.tar')).toBe('x');
    const long = imageNameOfFile(`${'a'.repeat(62)}_-b.tar`);
    expect(long).toBe('a'.repeat(62));
    for (const name of ['alpine-3', 'web', 'my-image', 'tiny', 'x', long]) expect(name).toMatch(IMAGE_NAME);
  });

  it('finds the layers several images share, counting an image that holds a layer twice once', () => {
    const list = [image('default', 'a', ['sha256:base', 'sha256:a1']), image('default', 'b', ['sha256:base', 'sha256:b1', 'sha256:b1'])];
    const owners = layerOwners(list);
    expect(owners.get('sha256:base')).toEqual(['default/a', 'default/b']);
    expect(owners.get('sha256:b1')).toEqual(['default/b']);
    expect(sharedLayerCount(list[0]!, owners)).toBe(1);
    expect(sharedLayerCount(list[1]!, owners)).toBe(1);
    expect(sharedLayerColour('sha256:base', owners)).toMatch(/^#[0-9a-f]{6}$/);
    expect(sharedLayerColour('sha256:a1', owners)).toBeNull();
    // two projects' images of one name are two images
    expect(layerOwners([image('p', 'a', ['sha256:x']), image('q', 'a', ['sha256:x'])]).get('sha256:x')).toHaveLength(2);
  });

  it('shortens digests, sizes bars and counts percentages at their edges', () => {
    expect(shortDigest('sha256:0123456789abcdef0123')).toBe('0123456789ab');
    expect(layerBarPercent(0, 100)).toBe(1);
    expect(layerBarPercent(100, 100)).toBe(100);
    expect(layerBarPercent(5, 0)).toBe(1);
    expect(percentOf(null, 100)).toBe(0);
    expect(percentOf(50, 0)).toBe(0);
    expect(percentOf(99, 100)).toBe(99);
    expect(percentOf(200, 100)).toBe(100);
  });
});
