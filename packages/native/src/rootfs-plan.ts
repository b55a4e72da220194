import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';

import { hasNul } from './plan-checks';
import type { LaunchPlan } from './plan-types';

// A plan's root filesystem: the image's layers, checked to be directories, each once.

/** Most layers of one image (overlay takes 500; the launcher passes every layer fd in one message). */
export const MAX_LAYERS = 128;
/** Room for "/proc/<pid>/root" in front of a layer path within the launcher's buffer. */
const MAX_LAYER_PATH = 4000;

/**
 * Checks a layer path and returns its directory's identity (dev:ino), or a problem. The path is
 * handed to the launcher as is and opened there, never put into overlay options.
 */
function checkLayer(name: string, value: unknown): { identity: string } | { problem: string } {
  if (typeof value !== 'string' || value.length === 0) return { problem: `${name} must be a non-empty string` };
  if (!isAbsolute(value)) return { problem: `${name} must be an absolute path` };
  if (hasNul(value)) return { problem: `${name} must not contain NUL` };
  if (value.length > MAX_LAYER_PATH) return { problem: `${name} is too long` };
  try {
    const st = statSync(value);
    if (!st.isDirectory()) return { problem: `${name} ${value} is not a directory` };
    return { identity: `${st.dev}:${st.ino}` };
  } catch {
    return { problem: `${name} ${value} does not exist` };
  }
}

/** The plan's layers, topmost first: `image` as one layer, or `layers` checked one by one. */
export function resolveLayers(plan: Pick<LaunchPlan, 'image' | 'layers' | 'rootfsMode'>, problems: string[]): string[] {
  if (plan.layers === undefined) {
    const checked = checkLayer('image', plan.image);
    if ('problem' in checked) problems.push(plan.image === undefined ? 'image or layers is required' : checked.problem);
    return [plan.image as string];
  }
  if (plan.image !== undefined) problems.push('give image or layers, not both');
  if (!Array.isArray(plan.layers) || plan.layers.length === 0 || plan.layers.length > MAX_LAYERS) {
    problems.push(`layers must be an array of 1 to ${MAX_LAYERS} directories`);
    return [];
  }
  const seen = new Map<string, number>(); // the same directory by any path
  plan.layers.forEach((layer, i) => {
    const checked = checkLayer(`layers[${i}]`, layer);
    if ('problem' in checked) problems.push(checked.problem);
    else if (seen.has(checked.identity)) problems.push(`layers[${i}] is the same directory as layers[${seen.get(checked.identity)}]`);
    else seen.set(checked.identity, i);
  });
  if (plan.rootfsMode === 'shifted' && plan.layers.length > 1) problems.push("rootfsMode 'shifted' takes one layer only");
  return [...plan.layers];
}
