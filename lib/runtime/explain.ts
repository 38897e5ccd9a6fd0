/**
 * Explaining a merge: the groups after blocks 3, 6, 9 and the last, drawn over the input crop.
 * The graph reports the source map after its last block, so the groups after block `b` come
 * from a run whose schedule stops merging after `b` (earlier blocks are unaffected by later
 * ones, so this is exact for adaptive methods too).
 * @module
 */
import type { HostTensor } from "../backend/session.ts";
import type { Runner } from "./engine.ts";
import { UserError } from "../errors.ts";
import { decodeImage } from "../image/decode.ts";
import { normalize, resizeAndCrop } from "../image/preprocess.ts";
import { explainBlocks, type MergeStage, renderMergeGroups } from "../explain/render.ts";

/** PNG of the merge groups of `bytes` under `schedule`, run at `resolution` (default its own). */
export async function explainMerges(
  { classifier, method }: Runner,
  bytes: Uint8Array,
  schedule: number[],
  feeds: Record<string, HostTensor> = {},
  resolution?: number,
): Promise<Uint8Array> {
  if (!method) throw new UserError("explain needs a merge method (not none)");
  const { preprocess, config } = classifier.bundle;
  const crop = resizeAndCrop(await decodeImage(bytes), preprocess);
  const input = normalize(crop, preprocess);
  const stages: MergeStage[] = [];
  for (const afterBlock of explainBlocks(config.depth)) {
    const upTo = schedule.map((r, l) => (l < afterBlock ? r : 0));
    const [out] = await classifier.run([input], upTo, feeds, method, resolution);
    stages.push({ afterBlock, sourceMap: out.sourceMap! });
  }
  return renderMergeGroups(crop, stages);
}
