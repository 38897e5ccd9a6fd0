/**
 * API errors: every failure is a JSON body `{error: {code, message, ...}}` with a 4xx/5xx status.
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BudgetMissError } from "../budget/choose.ts";
import { UserError } from "../errors.ts";
import { ImageError } from "../image/decode.ts";
import { PoolUnavailableError, QueueFullError } from "../../workers/pool.ts";

const IMAGE_ERROR_STATUS: Record<string, ContentfulStatusCode> = {
  empty: 400,
  unsupported_format: 415,
  corrupt: 422,
  too_large: 413,
};

/** An error with its HTTP status and code. */
export class ApiError extends UserError {
  override name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The API error for anything a route raised; rethrows programming errors. */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof QueueFullError) {
    return new ApiError(429, "busy", e.message, { retry_after_s: e.retryAfterSeconds });
  }
  if (e instanceof BudgetMissError) {
    return new ApiError(503, "budget_unachievable", e.message, {
      budget_ms: e.budgetMs,
      minimum_ms: Math.ceil(e.minimumMs),
    });
  }
  // Errors from workers arrive as JobError with the original name and code.
  const err = e as Error & { code?: string };
  if ((e instanceof ImageError || err.name === "ImageError") && err.code) {
    return new ApiError(IMAGE_ERROR_STATUS[err.code] ?? 422, err.code, err.message);
  }
  if (e instanceof PoolUnavailableError) return new ApiError(503, "unavailable", err.message);
  if (e instanceof UserError) return new ApiError(503, "unavailable", err.message);
  throw e;
}

/** The JSON response of an error (with Retry-After for 429). */
export function errorResponse(c: Context, e: unknown): Response {
  const api = toApiError(e);
  const retry = api.extra.retry_after_s;
  if (retry !== undefined) c.header("Retry-After", String(retry));
  return c.json({ error: { code: api.code, message: api.message, ...api.extra } }, api.status);
}
