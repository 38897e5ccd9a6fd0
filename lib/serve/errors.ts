/**
 * API errors: every failure is a JSON body `{error: {code, message, ...}}` with its status. Input
 * problems and refusals are 4xx/503 with a stable code; anything else is a 500 with a generic
 * message, its detail in the log only.
 * @module
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BudgetMissError, NoPointsError } from "../budget/errors.ts";
import { UserError } from "../errors.ts";
import { ImageError } from "../image/decode.ts";
import { OptionError } from "../options/spec.ts";
import {
  ClientGoneError,
  ExpiredError,
  JobError,
  JobTimeoutError,
  PoolUnavailableError,
  QueueFullError,
} from "../runtime/errors.ts";

const IMAGE_ERROR_STATUS: Record<string, ContentfulStatusCode> = {
  empty: 400,
  unsupported_format: 415,
  corrupt: 422,
  too_large: 413,
  bad_aspect: 422,
  resize_too_large: 413,
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

/** The API error for anything a route raised; undefined for a bug (answered 500). */
export function toApiError(e: unknown): ApiError | undefined {
  if (e instanceof ApiError) return e;
  if (e instanceof OptionError) {
    return new ApiError(400, e.code, e.message, { parameter: e.option });
  }
  if (e instanceof NoPointsError) return new ApiError(400, "bad_method", e.message);
  if (e instanceof QueueFullError) {
    return new ApiError(429, "busy", e.message, { retry_after_s: e.retryAfterSeconds });
  }
  if (e instanceof BudgetMissError) {
    return new ApiError(503, "budget_unachievable", e.message, {
      budget_ms: e.budgetMs,
      minimum_ms: Math.ceil(e.minimumMs),
    });
  }
  if (e instanceof ExpiredError) return new ApiError(503, "queue_timeout", e.message);
  if (e instanceof JobTimeoutError) return new ApiError(503, "job_timeout", e.message);
  if (e instanceof ClientGoneError) return new ApiError(408, "client_gone", e.message);
  // Errors from workers arrive as JobError with the original name and code; a fault of the
  // server (not a user error) is a 500 whose detail the worker logged.
  if (e instanceof JobError && !e.user) return undefined;
  const err = e as Error & { code?: string };
  if ((e instanceof ImageError || err.name === "ImageError") && err.code) {
    return new ApiError(IMAGE_ERROR_STATUS[err.code] ?? 422, err.code, err.message);
  }
  if (e instanceof PoolUnavailableError || e instanceof UserError || e instanceof JobError) {
    return new ApiError(503, "unavailable", err.message);
  }
  return undefined;
}

/** The JSON response of an error (with Retry-After for 429); bugs are logged and answered 500. */
export function errorResponse(c: Context, e: unknown): Response {
  const api = toApiError(e);
  if (!api) {
    console.error(e);
    return c.json({ error: { code: "internal", message: "internal error" } }, 500);
  }
  const retry = api.extra.retry_after_s;
  if (retry !== undefined) c.header("Retry-After", String(retry));
  return c.json({ error: { code: api.code, message: api.message, ...api.extra } }, api.status);
}
