/**
 * The decode worker: turns a queued job's image bytes into the model input while the job waits
 * for an inference worker, so the inference worker only runs the model. Started by `pool.ts`
 * (`PoolOptions.decodeAhead`); speaks `DecoderMessage` / `DecodeReply` of `protocol.ts`.
 * @module
 */
/// <reference lib="deno.worker" />
import { imageToTensor, type PreprocessConfig, warmUp } from "../lib/image/preprocess.ts";
import type { DecodeReply, DecoderMessage } from "./protocol.ts";

let preprocess: PreprocessConfig | undefined;
// Messages wait for the warm-up, in order: a chain, not a queue to manage.
let ready: Promise<void> = Promise.resolve();

self.onmessage = ({ data }: MessageEvent<DecoderMessage>) => {
  ready = ready.then(() => data.type === "init" ? init(data.preprocess) : decode(data));
};

async function init(cfg: PreprocessConfig): Promise<void> {
  preprocess = cfg;
  await warmUp(cfg);
}

async function decode({ id, image }: { id: number; image: Uint8Array }): Promise<void> {
  const t0 = performance.now();
  try {
    const input = await imageToTensor(image, preprocess!);
    self.postMessage({ id, input, ms: performance.now() - t0 } satisfies DecodeReply, [
      input.buffer,
    ]);
  } catch {
    // The inference worker decodes it again and answers the error in its usual way.
    self.postMessage({ id } satisfies DecodeReply);
  }
}
