/** Colours for projects: pure, no DOM. */

/**
 * FNV-1a of a string, then murmur3's final mix so names that differ in one letter ("team-a",
 * "team-b") land far apart: the same 32 bits for the same name, in every browser and on every load.
 */
function hashOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hslHex(hue: number, saturation: number, lightness: number): string {
  const s = saturation / 100;
  const l = lightness / 100;
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number) => {
    const k = (n + hue / 30) % 12;
    const v = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

/**
 * Hues the ID-space map gives no meaning of its own (it keeps red to amber for out of pool,
 * quarantined and reserved for a key, and purple for the shared slice), each at two lightnesses:
 * sixteen colours that differ enough to tell apart at a glance.
 */
const HUES = [80, 120, 160, 188, 212, 236, 300, 330];
const PALETTE = [36, 52].flatMap((lightness) => HUES.map((hue) => hslHex(hue, 72, lightness)));

/** A stable colour for a project name: the same on every screen and every load, with no list to keep. */
export function projectColour(name: string): string {
  return PALETTE[hashOf(name) % PALETTE.length]!;
}

/** `hex` mixed with white (share 0..1 of white): how the map fades what the filter leaves out. */
export function faded(hex: string, share = 0.75): string {
  const n = Number.parseInt(hex.slice(1), 16);
  const mix = (c: number) =>
    Math.round(c + (255 - c) * share)
      .toString(16)
      .padStart(2, '0');
  return `#${mix((n >> 16) & 0xff)}${mix((n >> 8) & 0xff)}${mix(n & 0xff)}`;
}
