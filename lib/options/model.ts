/**
 * Which model and how it runs, declared once for every command line and the server: the model
 * directory, the backend and its threads, Deno KV, and the knobs of the merge methods that have
 * them. Defaults are the modules' own.
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice, DEFAULT_THREADS } from "../backend/session.ts";
import {
  DEFAULT_CEILING,
  DEFAULT_GAMMA,
  DEFAULT_SALIENCE_WEIGHT,
  DEFAULT_THETA,
} from "../merge/adamerge.ts";
import {
  DEFAULT_ADA_THETA,
  DEFAULT_ALPHA,
  DEFAULT_IMPORTANCE_WEIGHT,
  DEFAULT_PRIOR_SIGN,
} from "../merge/sadtm.ts";
import type { MethodOptions } from "../merge/step.ts";
import {
  argValue,
  type ChoiceOption,
  type NumberOption,
  type OptionSpec,
  rawArg,
  type StringOption,
} from "./spec.ts";

/** Model directory. */
export const MODEL_DIR: StringOption = {
  kind: "string",
  name: "model",
  metavar: "DIR",
  env: "EDGEMERGE_MODEL",
  description:
    "Model directory (config.json + model.safetensors); default: DeiT-Tiny in the hub cache.",
};

/** Deno KV location. */
export const KV: StringOption = {
  kind: "string",
  name: "kv",
  metavar: "PATH",
  env: "EDGEMERGE_KV",
  description: "Deno KV with priors and operating points: a path, :memory: or a KV URL; seeded " +
    "from priors/ (default: the edgemerge cache).",
};

/** The inference backend. */
export const BACKEND: ChoiceOption<BackendChoice> = {
  kind: "choice",
  name: "backend",
  choices: BACKEND_CHOICES,
  default: "auto",
  env: "EDGEMERGE_BACKEND",
  description: "auto (WebGPU on a real GPU adapter, else native where FFI is permitted, else " +
    "WASM), native (onnxruntime-node), wasm or webgpu.",
};

/** WASM threads. */
export const THREADS: NumberOption = {
  kind: "number",
  name: "threads",
  min: 1,
  max: 64,
  integer: true,
  env: "EDGEMERGE_THREADS",
  description: `Threads per session (default ${DEFAULT_THREADS}, capped by the cores).`,
};

/** SAD-TM's class-attention weight. */
export const ALPHA: NumberOption = {
  kind: "number",
  name: "alpha",
  min: 0,
  max: 1,
  default: DEFAULT_ALPHA,
  description: "SAD-TM: class-attention weight (beta = 1 - alpha goes to the saliency prior).",
};

/** SAD-TM's orientation of the prior. */
export const PRIOR_SIGN: ChoiceOption<"1" | "-1"> = {
  kind: "choice",
  name: "prior_sign",
  choices: ["1", "-1"],
  default: String(DEFAULT_PRIOR_SIGN) as "1" | "-1",
  description: "SAD-TM: 1 merges low-outlierness patches first (the paper), -1 the reverse.",
};

/** SAD-TM's share of importance in the merge weights. */
export const IMPORTANCE_WEIGHT: NumberOption = {
  kind: "number",
  name: "importance_weight",
  min: 0,
  max: 1,
  default: DEFAULT_IMPORTANCE_WEIGHT,
  description: "SAD-TM: merge weights (1 - w + w m) * size; 1 is the paper's m * size.",
};

/**
 * The adaptive methods' threshold: a command line's default for every run, a request's for its
 * own run (absent there: the operating point's, else the server's).
 */
export const THETA: NumberOption = {
  kind: "number",
  name: "theta",
  min: -2,
  max: 2,
  description: "Adaptive methods: score threshold; higher merges less, the schedule is the " +
    `ceiling (default: AdaMerge ${DEFAULT_THETA}, SAD-TM-Ada ${DEFAULT_ADA_THETA}).`,
};

/** AdaMerge's salience damping. */
export const GAMMA: NumberOption = {
  kind: "number",
  name: "gamma",
  min: 0,
  max: 0.99,
  default: DEFAULT_GAMMA,
  description: "AdaMerge: salience damping of the match scores, S * (1 - gamma * sigma).",
};

/** AdaMerge's share of salience in the merge weights. */
export const SALIENCE_WEIGHT: NumberOption = {
  kind: "number",
  name: "salience_weight",
  min: 0,
  max: 1,
  default: DEFAULT_SALIENCE_WEIGHT,
  description: "AdaMerge: merge weights size * (1 + w * sigma); 0 is ToMe's size.",
};

/** The adaptive methods' ceiling. */
export const CEILING: NumberOption = {
  kind: "number",
  name: "ceiling",
  min: 1,
  max: 4,
  default: DEFAULT_CEILING,
  description: "Adaptive methods: r_max is the schedule of this multiple of the target reduction.",
};

/** The method knobs, in help order. */
export const METHOD_KNOBS: readonly OptionSpec[] = [
  ALPHA,
  PRIOR_SIGN,
  IMPORTANCE_WEIGHT,
  THETA,
  GAMMA,
  SALIENCE_WEIGHT,
  CEILING,
];

/** The method knobs given on a command line (absent ones keep the methods' defaults). */
export function methodKnobs(values: Record<string, unknown>): MethodOptions {
  const given = <T>(spec: OptionSpec, parse: () => T) =>
    rawArg(spec, values) === undefined ? undefined : parse();
  return {
    alpha: given(ALPHA, () => argValue(ALPHA, values)),
    priorSign: given(PRIOR_SIGN, () => argValue(PRIOR_SIGN, values) === "1" ? 1 : -1),
    importanceWeight: given(IMPORTANCE_WEIGHT, () => argValue(IMPORTANCE_WEIGHT, values)),
    theta: given(THETA, () => argValue(THETA, values)),
    gamma: given(GAMMA, () => argValue(GAMMA, values)),
    salienceWeight: given(SALIENCE_WEIGHT, () => argValue(SALIENCE_WEIGHT, values)),
    ceiling: given(CEILING, () => argValue(CEILING, values)),
  };
}
