import { describe, expect, it } from 'vitest';
import { createRequestOf, EMPTY_CREATE_FORM, fieldOf, type CreateForm } from '../dashboard/src/create-container-model';

const form = (patch: Partial<CreateForm>): CreateForm => ({ ...EMPTY_CREATE_FORM, ...patch });

describe('the create form: the POST /containers body it sends', () => {
  it('leaves every default out of the request', () => {
    expect(createRequestOf(form({ name: ' web ' }))).toEqual({ body: { name: 'web', image: 'busybox' } });
  });

  it('sends every option that was filled in, in the API shape', () => {
    const request = createRequestOf(
      form({
        name: 'db',
        image: 'alpine:3',
        command: "/bin/sh -c 'echo hi; sleep 3600'",
        env: 'A=1\n\n B=x=y \nC',
        node: 'node-2',
        memory: '512M',
        pids: '64',
        cpus: '0.5',
        isolated: false,
        size: '131072',
        key: ' sticky ',
        raw: [{ kind: 'uid', hostId: '1000', nsId: '1000', count: '1' }],
        mounts: 'volume:data:/var/lib/data\nhost:/srv:/srv:ro:shift',
        restartPolicy: 'on-failure',
        maxRetries: '3',
        init: true,
        stopSignal: 'SIGINT',
        stopTimeout: '5',
      }),
    );
    expect(request).toEqual({
      body: {
        name: 'db',
        image: 'alpine:3',
        command: ['/bin/sh', '-c', 'echo hi; sleep 3600'],
        env: { A: '1', B: 'x=y', C: '' },
        limits: { memoryBytes: 512 * 1024 * 1024, pids: 64, cpus: 0.5 },
        idmap: { isolated: false, size: 131072, key: 'sticky', raw: [{ kind: 'uid', hostId: 1000, nsId: 1000, count: 1 }] },
        node: 'node-2',
        mounts: [
          { volume: 'data', path: '/var/lib/data' },
          { hostPath: '/srv', path: '/srv', readOnly: true, shift: true },
        ],
        restartPolicy: { name: 'on-failure', maxRetries: 3 },
        init: true,
        stopSignal: 'SIGINT',
        stopTimeoutSeconds: 5,
      },
    });
  });

  it('sends maxRetries with on-failure only', () => {
    expect(createRequestOf(form({ name: 'a', restartPolicy: 'always', maxRetries: '3' })).body?.restartPolicy).toEqual({ name: 'always' });
    expect(createRequestOf(form({ name: 'a', restartPolicy: 'on-failure' })).body?.restartPolicy).toEqual({ name: 'on-failure' });
  });

  it('reads a bare memory number as MiB', () => {
    expect(createRequestOf(form({ name: 'a', memory: '64' })).body?.limits).toEqual({ memoryBytes: 64 * 1024 * 1024 });
  });

  it('stops at a memory size or a mount line it cannot read, with the issue under its field', () => {
    expect(createRequestOf(form({ name: 'a', memory: 'lots' })).issue?.path).toBe('limits.memoryBytes');
    const mount = createRequestOf(form({ name: 'a', mounts: 'volume:data:/ok\ndata:/nope' }));
    expect(mount.issue).toEqual({
      path: 'mounts',
      message: 'not a mount: data:/nope (volume:NAME:/path[:ro] or host:/dir:/path[:ro][:shift])',
    });
    expect(mount.body).toBeUndefined();
  });
});

describe('the create form: where an API issue is shown', () => {
  it.each([
    ['name', 'name'],
    ['idmap.raw.0.hostId', 'idmap.raw.0.hostId'],
    ['idmap.raw.1', 'idmap.raw.1'],
    ['env.FOO', 'env'],
    ['command.0', 'command'],
    ['restartPolicy', 'restartPolicy.name'],
    ['restartPolicy.maxRetries', 'restartPolicy.maxRetries'],
    ['limits.cpus', 'limits.cpus'],
    ['mounts.0.path', 'mounts'],
    ['limits', ''],
    ['network.mode', ''],
  ])('%s goes to %j', (path, field) => {
    expect(fieldOf(path)).toBe(field);
  });
});
