/**
 * Request options (query parameters, or `X-` headers of the same name: `budget_ms` ->
 * `X-Budget-Ms`, also `X-Latency-Budget-Ms`) and the image body (raw JPEG/PNG, or multipart
 * field `image`), validated into typed values; bad input raises `ApiError` naming it.
 * @module
 */
import type { Context } from "hono";
import { ON_MISS, type OnMiss } from "../budget/choose.ts";
import { METHOD_NAMES } from "../merge/methods.ts";
import type { ViTConfig } from "../vit/config.ts";
import { ApiError } from "./errors.ts";

/** Largest accepted request body (10 MB). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Content types of a raw image body. */
export const IMAGE_TYPES = ["image/jpeg", "image/png"];
/** Largest accepted budget (one minute). */
const MAX_BUDGET_MS = 60_000;

/** Options of `/v1/classify` and `/v1/explain`. */
export interface RequestOptions {
  budgetMs?: number;
  method?: string;
  reduction?: number;
  topK: number;
  onMiss: OnMiss;
}

/** The raw value of option `name` from the query, else its header. */
function raw(c: Context, name: string): string | undefined {
  const header = "x-" + name.replaceAll("_", "-");
  return c.req.query(name) ?? c.req.header(header) ??
    (name === "budget_ms" ? c.req.header("x-latency-budget-ms") : undefined);
}

function numberParam(c: Context, name: string, min: number, max: number, int = false) {
  const value = raw(c, name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    value.trim() === "" || !Number.isFinite(n) || n < min || n > max ||
    (int && !Number.isInteger(n))
  ) {
    throw new ApiError(
      400,
      "bad_parameter",
      `${name} must be ${int ? "an integer" : "a number"} in [${min}, ${max}], got "${value}"`,
      { parameter: name },
    );
  }
  return n;
}

function choiceParam<T extends string>(c: Context, name: string, choices: readonly T[]) {
  const value = raw(c, name);
  if (value === undefined || choices.includes(value as T)) return value as T | undefined;
  throw new ApiError(
    400,
    `bad_${name}`,
    `unknown ${name} "${value}"; known: ${choices.join(", ")}`,
    { parameter: name },
  );
}

/** Parses and validates the options of a request for model `config`. */
export function parseOptions(c: Context, config: ViTConfig): RequestOptions {
  const model = raw(c, "model");
  if (model !== undefined && model !== config.name && model !== `timm/${config.name}`) {
    throw new ApiError(400, "bad_model", `unknown model "${model}"; served: ${config.name}`, {
      parameter: "model",
    });
  }
  const options: RequestOptions = {
    budgetMs: numberParam(c, "budget_ms", 1, MAX_BUDGET_MS),
    method: choiceParam(c, "method", METHOD_NAMES),
    reduction: numberParam(c, "reduction", 0, 0.95),
    topK: numberParam(c, "top_k", 1, config.numClasses, true) ?? 5,
    onMiss: choiceParam(c, "on_miss", ON_MISS) ?? "best_effort",
  };
  if (options.budgetMs !== undefined && options.reduction !== undefined) {
    throw new ApiError(400, "bad_parameter", "give budget_ms or reduction, not both", {
      parameter: "reduction",
    });
  }
  return options;
}

/** The image bytes of a request: a raw JPEG/PNG body or the multipart field `image`. */
export async function readImage(c: Context): Promise<Uint8Array> {
  const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (IMAGE_TYPES.includes(type)) return new Uint8Array(await c.req.arrayBuffer());
  if (type === "multipart/form-data") {
    let form: FormData;
    try {
      form = await c.req.formData();
    } catch {
      throw new ApiError(400, "bad_multipart", "the multipart body cannot be parsed");
    }
    const file = form.get("image");
    if (!(file instanceof File)) {
      throw new ApiError(400, "missing_image", 'the multipart body has no file field "image"');
    }
    return new Uint8Array(await file.arrayBuffer());
  }
  throw new ApiError(
    415,
    "unsupported_media_type",
    `content-type must be ${IMAGE_TYPES.join(", ")} or multipart/form-data, got "${type}"`,
  );
}
