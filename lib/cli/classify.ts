/**
 * `deno task classify [--model DIR] [--method M] [--reduction P | --r R | --schedule R,R,...]
 * [--resolution PX] [--json] IMAGE...`
 * @module
 */
import { defaultModelDir, loadModelBundle } from "../checkpoint/bundle.ts";
import { atResolution, type ViTConfig } from "../checkpoint/config.ts";
import { ImageError } from "../image/decode.ts";
import { priorFor } from "../kv/priors.ts";
import { methodByName } from "../merge/methods.ts";
import {
  checkSchedule,
  constantSchedule,
  ScheduleError,
  unmergedGmacs,
} from "../merge/schedule.ts";
import type { MergeMethod } from "../merge/step.ts";
import { BACKEND, METHOD_KNOBS, methodKnobs, MODEL_DIR, THREADS } from "../options/model.ts";
import {
  METHOD,
  parseSchedule,
  REDUCTION,
  RESOLUTION,
  SCHEDULE,
  TOP_K,
} from "../options/request.ts";
import {
  argsOptions,
  argValue,
  helpLines,
  type NumberOption,
  type OptionSpec,
  rawArg,
} from "../options/spec.ts";
import { Classifier } from "../runtime/classifier.ts";
import { parseCommand, runMain, UsageError } from "./args.ts";

/** A fixed number of merges per block instead of a target reduction. */
const R: NumberOption = {
  kind: "number",
  name: "r",
  min: 0,
  max: 10_000,
  integer: true,
  description: "Merge R tokens in every block instead of a target reduction.",
};

const FLAGS: readonly OptionSpec[] = [
  MODEL_DIR,
  BACKEND,
  THREADS,
  METHOD,
  REDUCTION,
  R,
  SCHEDULE,
  RESOLUTION,
  TOP_K,
  ...METHOD_KNOBS,
];

const USAGE = "usage: deno task classify [--model DIR] [--method M] " +
  "[--reduction P | --r R | --schedule R,R,...] [--resolution PX] [--top-k K] [--json] IMAGE...";
const HELP = `
${USAGE}

Classifies JPEG/PNG images and prints the top predictions with cost and timings.

${helpLines(FLAGS)}
  --json
      one JSON object per image: file, top_k [{index,label,score}], gmacs, tokens, method,
      schedule, resolution, reduction, backend, timings
`;

/** `--schedule` as given, if the model and method can run it (else a usage error saying why). */
function scheduleFlag(config: ViTConfig, method: MergeMethod | undefined, r: number[]): number[] {
  try {
    return checkSchedule(config, method, r);
  } catch (e) {
    if (e instanceof ScheduleError) throw new UsageError(e.message);
    throw e;
  }
}

async function main(args: string[]) {
  const { values, positionals } = parseCommand(
    args,
    {
      ...argsOptions(FLAGS),
      json: { type: "boolean" },
    },
    HELP,
    true,
  );
  if (positionals.length === 0) throw new UsageError("no IMAGE given");
  const methodName = argValue(METHOD, values) ?? "none";
  const method = methodByName(methodName);
  const r = argValue(R, values);
  const scheduleArg = rawArg(SCHEDULE, values);
  const ways = [rawArg(REDUCTION, values), r, scheduleArg].filter((v) => v !== undefined);
  if (ways.length > 1) throw new UsageError("give one of --reduction, --r and --schedule");
  const resolution = argValue(RESOLUTION, values);
  if (!method && ways.length > 0) {
    throw new UsageError("--reduction, --r and --schedule need a --method");
  }
  const given = scheduleArg === undefined ? undefined : parseSchedule(scheduleArg);
  if (!method && resolution !== undefined) throw new UsageError("--resolution needs a --method");
  const k = argValue(TOP_K, values)!;
  const session = { backend: argValue(BACKEND, values), threads: argValue(THREADS, values) };
  const knobs = methodKnobs(values);
  const target = argValue(REDUCTION, values)!;
  const bundle = await loadModelBundle(argValue(MODEL_DIR, values) ?? defaultModelDir());
  const classifier = await Classifier.fromBundle(bundle, {
    ...session,
    method,
    prior: await priorFor(bundle.config),
    ...knobs,
  });
  const { config } = bundle;
  const schedule = given
    ? scheduleFlag(resolution ? atResolution(config, resolution) : config, method, given)
    : method && r !== undefined
    ? constantSchedule(r, config.depth)
    : classifier.scheduleFor(method ? target : 0, { ceiling: knobs.ceiling, resolution });
  const full = unmergedGmacs(config);
  let failed = 0;
  for (const file of positionals) {
    try {
      const t0 = performance.now();
      const input = await classifier.prepare(await Deno.readFile(file));
      const t1 = performance.now();
      const [out] = await classifier.run([input], schedule, {}, method, resolution);
      const t2 = performance.now();
      const top = classifier.predictions(out.logits, k);
      const reduction = 1 - out.gmacs / full;
      const timings = { decode_ms: +(t1 - t0).toFixed(2), infer_ms: +(t2 - t1).toFixed(2) };
      if (values.json) {
        console.log(JSON.stringify({
          file,
          top_k: top,
          gmacs: +out.gmacs.toFixed(4),
          tokens: out.tokens,
          method: methodName,
          schedule,
          resolution: resolution ?? config.imgSize,
          reduction: +reduction.toFixed(4),
          backend: classifier.session.backend,
          timings,
        }));
        continue;
      }
      console.log(
        `${file}  (${methodName}, ${out.gmacs.toFixed(3)} GMACs, ` +
          `-${(100 * reduction).toFixed(1)}%, decode ${timings.decode_ms} ms, ` +
          `infer ${timings.infer_ms} ms on ${classifier.session.backend})`,
      );
      if (method) {
        console.log(`  r per block ${schedule.join(",")}; tokens ${out.tokens.join(",")}`);
      }
      for (const p of top) {
        const score = (100 * p.score).toFixed(2).padStart(6);
        console.log(`  ${score}%  ${String(p.index).padStart(4)}  ${p.label}`);
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
