import { faded, projectColour } from './project-colours';
import { CellState, LEGEND, type SlotModel } from './slot-model';

/**
 * The colours of the ID-space map (pages/id-map.tsx): one per cell, by state or by project, and the
 * legend with its counts. Pure: no DOM here.
 */

const COLOR = new Map(LEGEND.map((l) => [l.state, l.color]));

/** '#rrggbb' as the little-endian RGBA word ImageData stores (opaque). */
function abgr(hex: string): number {
  const n = parseInt(hex.slice(1), 16);
  return ((0xff << 24) | ((n & 0xff) << 16) | (n & 0xff00) | ((n >> 16) & 0xff)) >>> 0;
}

/** Colour by state (active, quarantined, …) or, for slices held by a container, by the container's project. */
export type ColourBy = 'state' | 'project';

/** What the map draws: one colour per cell, and the legend that explains them. */
export interface Painting {
  /** Each cell's colour as an ImageData word. */
  words: Uint32Array;
  /** Each cell's colour as '#rrggbb' (the tooltip's swatch). */
  hex: string[];
  states: Array<{ state: CellState; label: string; color: string; hint: string; count: number }>;
  projects: Array<{ name: string; color: string; count: number }>;
}

/**
 * Colours every cell. By project, a slice held by a container (active) takes its project's colour;
 * every other state keeps its own, so quarantined or out-of-pool slots still stand out. With a
 * project filter, what other projects hold is faded, never hidden: the slot is not free.
 */
export function paint(model: SlotModel, colourBy: ColourBy, filter: string): Painting {
  const words = new Uint32Array(model.count);
  const hex: string[] = new Array(model.count);
  const stateCounts = new Map<CellState, number>();
  const projectCounts = new Map<string, number>();
  const word = new Map<string, number>();
  const wordOf = (h: string) => {
    const known = word.get(h);
    if (known !== undefined) return known;
    const w = abgr(h);
    word.set(h, w);
    return w;
  };
  for (let i = 0; i < model.count; i++) {
    const state = model.states[i] as CellState;
    const project = model.owner[i]! >= 0 ? model.allocations[model.owner[i]!]!.project : null;
    let colour: string;
    if (colourBy === 'project' && state === CellState.active && project) {
      colour = projectColour(project);
      projectCounts.set(project, (projectCounts.get(project) ?? 0) + 1);
    } else {
      colour = COLOR.get(state)!;
      stateCounts.set(state, (stateCounts.get(state) ?? 0) + 1);
    }
    if (filter && project && project !== filter) colour = faded(colour);
    hex[i] = colour;
    words[i] = wordOf(colour);
  }
  return {
    words,
    hex,
    // "Not in pool" only where the pool has gaps; by project, "Active" only for a slice whose container is gone
    states: LEGEND.filter(
      (l) => (l.state !== CellState.outside && (colourBy === 'state' || l.state !== CellState.active)) || stateCounts.get(l.state),
    ).map((l) => ({ ...l, count: stateCounts.get(l.state) ?? 0 })),
    projects: [...projectCounts]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, count]) => ({ name, color: projectColour(name), count })),
  };
}
