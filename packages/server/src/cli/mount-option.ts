import { ApiError, parseMountSpec } from '@nagaya/contract';

/** A create's or a run's mounts from its --mount values (`launch` and `run` take the same). */
export function mountsOption(specs: string[] | undefined): { mounts?: unknown } {
  if (!specs?.length) return {};
  return {
    mounts: specs.map((spec) => {
      const m = parseMountSpec(spec);
      if (!m)
        throw new ApiError(
          0,
          'INVALID_INPUT',
          `--mount wants volume:NAME:/path[:ro] or host:/dir:/path[:ro][:shift], not ${JSON.stringify(spec)}`,
        );
      return m;
    }),
  };
}
