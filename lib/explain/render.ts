/**
 * The explain picture: the model's input crop, then the merge groups after some blocks, each
 * group painted with its mean colour and outlined (like the SAD-TM supplement's figures).
 * @module
 */
import { encodePng } from "../image/encode.ts";
import type { RgbImage } from "../image/decode.ts";

/** Merge groups after a block: the final token of every patch (row-major patch order). */
export interface MergeStage {
  afterBlock: number;
  sourceMap: number[];
}

/** Blocks after which the picture shows the groups: 3, 6, 9 (those that exist) and the last. */
export function explainBlocks(depth: number): number[] {
  return [...new Set([...[3, 6, 9].filter((b) => b < depth), depth])];
}

/** Gap between panels, in pixels. */
const GAP = 8;
const BORDER = [16, 16, 16];

/**
 * Paints `stages` of a square `crop`; returns PNG bytes. The crop is cut in as many patches as a
 * stage's source map has (a run at a lower resolution has fewer, each covering more pixels).
 */
export function renderMergeGroups(crop: RgbImage, stages: MergeStage[]): Uint8Array {
  const side = crop.width;
  const width = (stages.length + 1) * side + stages.length * GAP;
  const rgba = new Uint8Array(width * side * 4).fill(255);
  const put = (panel: number, x: number, y: number, rgb: ArrayLike<number>) => {
    const at = 4 * (y * width + panel * (side + GAP) + x);
    rgba[at] = rgb[0], rgba[at + 1] = rgb[1], rgba[at + 2] = rgb[2];
  };
  const pixel = (x: number, y: number) =>
    crop.data.subarray(3 * (y * side + x), 3 * (y * side + x) + 3);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) put(0, x, y, pixel(x, y));

  stages.forEach((stage, s) => {
    const cols = Math.round(Math.sqrt(stage.sourceMap.length));
    const group = (x: number, y: number) =>
      stage.sourceMap[Math.floor((y * cols) / side) * cols + Math.floor((x * cols) / side)];
    const sums = new Map<number, number[]>();
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const sum = sums.get(group(x, y)) ?? [0, 0, 0, 0];
        const [r, g, b] = pixel(x, y);
        sums.set(group(x, y), [sum[0] + r, sum[1] + g, sum[2] + b, sum[3] + 1]);
      }
    }
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const g = group(x, y);
        const edge = (x > 0 && group(x - 1, y) !== g) || (y > 0 && group(x, y - 1) !== g) ||
          (x + 1 < side && group(x + 1, y) !== g) || (y + 1 < side && group(x, y + 1) !== g);
        const [r, gr, b, n] = sums.get(g)!;
        put(s + 1, x, y, edge ? BORDER : [r / n, gr / n, b / n]);
      }
    }
  });
  return encodePng(rgba, width, side);
}
