/**
 * The geometry of the ID-space map's canvas (pages/id-map.tsx): how big a cell is at a width,
 * which cell a point falls on, where the arrow keys move the selection, and the drawing itself.
 */

/** How the map lays its cells out: square cells of cellPx, cols to a row, a gap between big ones. */
export interface MapLayout {
  cellPx: number;
  cols: number;
  rows: number;
  gap: number;
}

/** Cells as big as fit the width and ~560 px of height; at least 3 px (cellPx 0 until the width is known). */
export function mapLayout(width: number, count: number): MapLayout {
  const cellPx = width ? Math.max(3, Math.min(36, Math.floor(Math.sqrt((width * 560) / Math.max(1, count))))) : 0;
  const cols = cellPx ? Math.max(1, Math.floor(width / cellPx)) : 1;
  const rows = Math.ceil(count / cols);
  const gap = cellPx >= 6 ? 1 : 0;
  return { cellPx, cols, rows, gap };
}

/** The cell under a point (x, y from the canvas's top left corner, in CSS pixels), or null past the cells. */
export function cellAtPoint(x: number, y: number, layout: MapLayout, count: number): number | null {
  const col = Math.floor(x / layout.cellPx);
  const row = Math.floor(y / layout.cellPx);
  if (col < 0 || col >= layout.cols || row < 0) return null;
  const cell = row * layout.cols + col;
  return cell < count ? cell : null;
}

/** Where a key moves the selection from `current` (arrows, PageUp/PageDown by ten rows, Home, End); null for any other key. */
export function selectionAfterKey(key: string, current: number, cols: number, count: number): number | null {
  const moves: Record<string, number> = {
    ArrowRight: 1,
    ArrowLeft: -1,
    ArrowDown: cols,
    ArrowUp: -cols,
    PageDown: cols * 10,
    PageUp: -cols * 10,
  };
  if (key in moves) return Math.max(0, Math.min(count - 1, current + moves[key]!));
  if (key === 'Home' || key === 'End') return key === 'Home' ? 0 : count - 1;
  return null;
}

/**
 * Draws the cells in their colours (ImageData words, one per cell) at the device's pixel ratio,
 * then outlines the `outlined` cells (selection and hover). Records the time it took in
 * data-draw-ms, which the e2e test reads.
 */
export function drawSlots(
  c: HTMLCanvasElement,
  colours: Uint32Array,
  count: number,
  layout: MapLayout,
  outlined: Array<number | null>,
): void {
  const { cellPx, cols, rows, gap } = layout;
  const started = performance.now();
  const dpr = window.devicePixelRatio || 1;
  c.width = Math.ceil(cols * cellPx * dpr);
  c.height = Math.ceil(rows * cellPx * dpr);
  c.style.width = `${cols * cellPx}px`;
  c.style.height = `${rows * cellPx}px`;
  const ctx = c.getContext('2d')!;
  // Cells are written straight into one ImageData (a few ms for 15,000 cells, even without a
  // GPU), then the hover and selection outlines are stroked on top.
  const w = c.width;
  const image = ctx.createImageData(w, c.height);
  const pixels = new Uint32Array(image.data.buffer);
  const edge = (v: number) => Math.round(v * dpr);
  for (let i = 0; i < count; i++) {
    const col = i % cols;
    const row = (i - col) / cols;
    const x0 = edge(col * cellPx);
    const x1 = Math.max(x0 + 1, edge((col + 1) * cellPx - gap));
    const y0 = edge(row * cellPx);
    const y1 = Math.max(y0 + 1, edge((row + 1) * cellPx - gap));
    const colour = colours[i]!;
    for (let y = y0; y < y1; y++) pixels.fill(colour, y * w + x0, y * w + x1);
  }
  ctx.putImageData(image, 0, 0);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  for (const cell of outlined) {
    if (cell === null || cell >= count) continue;
    ctx.lineWidth = Math.max(1, Math.min(2, cellPx / 4));
    ctx.strokeStyle = '#111827';
    ctx.strokeRect(
      (cell % cols) * cellPx + 0.5,
      Math.floor(cell / cols) * cellPx + 0.5,
      Math.max(1, cellPx - gap - 1),
      Math.max(1, cellPx - gap - 1),
    );
  }
  c.dataset.drawMs = (performance.now() - started).toFixed(1);
}
