/**
 * Request options (query parameters, or `X-` headers of the same name: `budget_ms` ->
 * `X-Budget-Ms`, also `X-Latency-Budget-Ms`) and the image body (raw JPEG/PNG, or multipart
 * field `image`). The options themselves are declared in `lib/options/request.ts`.
 * @module
 */
import type { Context } from "hono";
import { parseRequestOptions, type RequestOptions } from "../options/request.ts";
import { OptionError } from "../options/spec.ts";
import { headerOf, type OptionSpec } from "../options/spec.ts";
import { ApiError } from "./errors.ts";
import { findModel, modelOption, type ServedModel, type ServerContext } from "./context.ts";

/** Largest accepted request body (10 MB). */
export const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Content types of a raw image body. */
export const IMAGE_TYPES = ["image/jpeg", "image/png"];
/** Extra header names of an option (besides `X-<Name>`). */
const HEADER_ALIASES: Record<string, string[]> = { budget_ms: ["X-Latency-Budget-Ms"] };

/** The header names an option is read from (`X-<Name>` and any alias). */
export function headersOf(spec: OptionSpec): string[] {
  return [headerOf(spec), ...(HEADER_ALIASES[spec.name] ?? [])];
}

/** The raw value of option `spec` from the query, else its headers. */
function raw(c: Context, spec: OptionSpec): string | undefined {
  return c.req.query(spec.name) ??
    headersOf(spec).map((h) => c.req.header(h)).find((v) => v !== undefined);
}

/** The model a request asks for and its options; bad input raises `OptionError`. */
export function readRequest(
  c: Context,
  ctx: ServerContext,
): { model: ServedModel; options: RequestOptions } {
  const model = findModel(ctx, raw(c, modelOption(ctx)));
  const options = parseRequestOptions((spec) => raw(c, spec));
  const { depth } = model.config;
  if (options.schedule && options.schedule.length !== depth) {
    throw new OptionError(
      "schedule",
      `schedule needs ${depth} values (one per block of ${model.config.name}), got ${options.schedule.length}`,
    );
  }
  return { model, options };
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
