/**
 * `deno task classify [--model DIR] [--backend auto|wasm|webgpu] [--json] IMAGE...`
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice } from "../backend/session.ts";
import { Classifier } from "../classifier.ts";
import { ImageError } from "../image/decode.ts";
import { defaultModelDir } from "../vit/bundle.ts";
import { METHOD_NAMES, methodByName } from "../merge/methods.ts";
import { constantSchedule, reductionOf } from "../merge/schedule.ts";
import { numberOption, parseCommand, runMain, signOption, UsageError } from "./args.ts";

const USAGE = "usage: deno task classify [--model DIR] [--backend auto|wasm|webgpu] " +
  "[--method M] [--reduction P | --r R] [--threads N] [--top K] [--json] IMAGE...";
const HELP = `
${USAGE}

Classifies JPEG/PNG images and prints the top predictions with cost and timings.

  --model DIR     model directory (config.json + model.safetensors); default $EDGEMERGE_MODEL,
                  then the hub cache (deno task pull deit_tiny_patch16_224)
  --backend B     auto (WebGPU on a real GPU, else WASM), wasm or webgpu; default auto
  --method M      merge method: ${METHOD_NAMES.join(", ")} (default none)
  --reduction P   target GMACs reduction in [0, 0.95] (default 0.33 with a method)
  --r R           merge R tokens in every block instead of a target reduction
  --alpha A       SAD-TM class-attention weight in [0, 1] (default 1)
  --prior-sign S, --importance-weight W
                  SAD-TM variants (see deno task eval --help)
  --theta T       AdaMerge score threshold (default 0.8; higher merges less); --reduction sets
                  the ceiling r_max
  --threads N     WASM threads (default 2)
  --top K         predictions per image (default 5)
  --json          one JSON object per image: file, top5 [{index,label,score}], gmacs, tokens,
                  method, schedule, reduction, timings
`;

async function main(args: string[]) {
  const { values, positionals } = parseCommand(args, {
    model: { type: "string" },
    backend: { type: "string", default: "auto" },
    threads: { type: "string" },
    top: { type: "string" },
    json: { type: "boolean" },
    method: { type: "string", default: "none" },
    reduction: { type: "string" },
    r: { type: "string" },
    alpha: { type: "string" },
    theta: { type: "string" },
    "prior-sign": { type: "string" },
    "importance-weight": { type: "string" },
  }, HELP);
  if (positionals.length === 0) throw new UsageError("no IMAGE given");
  const backend = values.backend as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) {
    throw new UsageError(`--backend must be one of ${BACKEND_CHOICES.join(", ")}`);
  }
  const k = numberOption(values.top, "top", 1, 1000) ?? 5;
  const method = methodByName(values.method);
  if (values.reduction !== undefined && values.r !== undefined) {
    throw new UsageError("give --reduction or --r, not both");
  }
  if (!method && (values.reduction !== undefined || values.r !== undefined)) {
    throw new UsageError("--reduction and --r need a --method");
  }
  const classifier = await Classifier.load({
    model: values.model ?? defaultModelDir(),
    backend,
    threads: numberOption(values.threads, "threads", 1, 64),
    method,
    alpha: numberOption(values.alpha, "alpha", 0, 1),
    theta: numberOption(values.theta, "theta", -2, Infinity),
    priorSign: signOption(values["prior-sign"], "prior-sign"),
    importanceWeight: numberOption(values["importance-weight"], "importance-weight", 0, 1),
  });
  const { config } = classifier.bundle;
  const r = numberOption(values.r, "r", 0, 10000);
  const schedule = method && r !== undefined
    ? constantSchedule(Math.round(r), config.depth)
    : classifier.scheduleFor(numberOption(values.reduction, "reduction", 0, 0.95) ?? 0.33);
  const reduction = reductionOf(config, method, schedule);
  let failed = 0;
  for (const file of positionals) {
    try {
      const t0 = performance.now();
      const input = await classifier.prepare(await Deno.readFile(file));
      const t1 = performance.now();
      const [out] = await classifier.run([input], schedule);
      const t2 = performance.now();
      const top = classifier.predictions(out.logits, k);
      const timings = { decode_ms: +(t1 - t0).toFixed(2), infer_ms: +(t2 - t1).toFixed(2) };
      if (values.json) {
        console.log(JSON.stringify({
          file,
          top5: top,
          gmacs: +out.gmacs.toFixed(4),
          tokens: out.tokens,
          method: values.method,
          schedule,
          reduction: +reduction.toFixed(4),
          backend: classifier.session.backend,
          timings,
        }));
      } else {
        console.log(
          `${file}  (${values.method}, ${out.gmacs.toFixed(3)} GMACs, ` +
            `-${(100 * reduction).toFixed(1)}%, decode ${timings.decode_ms} ms, ` +
            `infer ${timings.infer_ms} ms on ${classifier.session.backend})`,
        );
        if (method) {
          console.log(`  r per block ${schedule.join(",")}; tokens ${out.tokens.join(",")}`);
        }
        for (const p of top) {
          console.log(
            `  ${(100 * p.score).toFixed(2).padStart(6)}%  ${
              String(p.index).padStart(4)
            }  ${p.label}`,
          );
        }
      }
    } catch (e) {
      if (!(e instanceof ImageError) && !(e instanceof Deno.errors.NotFound)) throw e;
      failed++;
      console.error(`${file}: ${(e as Error).message}`);
    }
  }
  await classifier.release();
  if (failed) Deno.exit(1);
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
