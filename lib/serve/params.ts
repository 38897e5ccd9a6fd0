/**
 * Request options (query parameters, or `X-` headers of the same name: `budget_ms` ->
 * `X-Budget-Ms`, also `X-Latency-Budget-Ms`) and the image body (raw JPEG/PNG, or multipart
 * field `image`). The options themselves are declared in `lib/options/request.ts`.
 * @module
 */
import type { Context } from "hono";
import { parseRequestOptions, REQUEST_OPTIONS, type RequestOptions } from "../options/request.ts";
import { OptionError } from "../options/spec.ts";
import { headerOf, type OptionSpec } from "../options/spec.ts";
import { ApiError } from "./errors.ts";
import { atResolution, ResolutionError } from "../checkpoint/config.ts";
import { DEFAULT_METHOD, methodByName } from "../merge/methods.ts";
import { checkSchedule, ScheduleError } from "../merge/schedule.ts";
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

/**
 * The raw value of option `spec` from the query, else its headers. Given twice (in the query, or
 * there and in a header) it must be given alike: which of two budgets counts is not a guess.
 */
function raw(c: Context, spec: OptionSpec): string | undefined {
  const given = [
    ...(c.req.queries(spec.name) ?? []),
    ...headersOf(spec).map((h) => c.req.header(h)).filter((v) => v !== undefined),
  ];
  if (new Set(given).size > 1) {
    throw new OptionError(
      spec.name,
      `${spec.name} is given ${given.length} times with different values (${given.join(", ")})`,
    );
  }
  return given[0];
}

/** Refuses query parameters that are no option: a misspelt `budget_ms` must not go unnoticed. */
function checkQueryNames(c: Context, known: string[]): void {
  for (const name of Object.keys(c.req.queries())) {
    if (!known.includes(name)) {
      throw new OptionError(
        name,
        `unknown parameter "${name}"; known: ${known.join(", ")}`,
        "unknown_parameter",
      );
    }
  }
}

/** The model a request asks for and its options; bad input raises `OptionError`. */
export function readRequest(
  c: Context,
  ctx: ServerContext,
): { model: ServedModel; options: RequestOptions } {
  checkQueryNames(c, [modelOption(ctx).name, ...REQUEST_OPTIONS.map((o) => o.name)]);
  const model = findModel(ctx, raw(c, modelOption(ctx)));
  const options = parseRequestOptions((spec) => raw(c, spec));
  let config = model.config;
  if (options.resolution !== undefined) {
    try {
      config = atResolution(model.config, options.resolution);
    } catch (e) {
      if (e instanceof ResolutionError) throw new OptionError("resolution", e.message);
      throw e;
    }
  }
  if (options.schedule) {
    try {
      checkSchedule(config, methodByName(options.method ?? DEFAULT_METHOD), options.schedule);
    } catch (e) {
      if (e instanceof ScheduleError) throw new OptionError("schedule", e.message);
      throw e;
    }
  }
  return { model, options };
}

/**
 * The body, read within `limits`: refused unread (413) when its declared length is too large,
 * and cut off at `MAX_BODY_BYTES` (413) or after `timeoutMs` (408) however it arrives (a
 * trickled or endless chunked upload holds nothing for long). Malformed chunking is a 400.
 */
export async function readBody(c: Context, timeoutMs: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new ApiError(413, "body_too_large", `body exceeds ${MAX_BODY_BYTES} bytes`);
  const declared = Number(c.req.header("content-length") ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  const stream = c.req.raw.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new ApiError(408, "body_timeout", `the body was not read within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), timeout]).catch((e) => {
        if (e instanceof ApiError) throw e;
        throw new ApiError(
          400,
          "bad_body",
          "the request body could not be read (malformed upload)",
        );
      });
      if (done) break;
      size += value.length;
      if (size > MAX_BODY_BYTES) throw tooLarge();
      chunks.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

/** The request's content type, checked before its body is read (415 for anything else). */
export function bodyType(c: Context): "image" | "multipart" {
  const type = (c.req.header("content-type") ?? "").split(";")[0].trim().toLowerCase();
  if (IMAGE_TYPES.includes(type)) return "image";
  if (type === "multipart/form-data") return "multipart";
  throw new ApiError(
    415,
    "unsupported_media_type",
    `content-type must be ${IMAGE_TYPES.join(", ")} or multipart/form-data, got "${type}"`,
  );
}

/** The image bytes of a body: raw JPEG/PNG, or the multipart field `image`. */
export async function imageOf(c: Context, body: Uint8Array): Promise<Uint8Array> {
  if (bodyType(c) === "image") return body;
  let form: FormData;
  try {
    form = await new Response(body as BodyInit, {
      headers: { "content-type": c.req.header("content-type")! },
    }).formData();
  } catch {
    throw new ApiError(400, "bad_multipart", "the multipart body cannot be parsed");
  }
  const file = form.get("image");
  if (!(file instanceof File)) {
    throw new ApiError(400, "missing_image", 'the multipart body has no file field "image"');
  }
  return new Uint8Array(await file.arrayBuffer());
}
