/**
 * The OpenAPI 3.1 description of the API (served at `/openapi.json`).
 * @module
 */
import { SPREAD_KINDS } from "../merge/schedule.ts";
import { REQUEST_OPTIONS } from "../options/request.ts";
import { type OptionSpec, schemaOf } from "../options/spec.ts";
import { modelOption, type ServerContext } from "./context.ts";
import { headersOf, IMAGE_TYPES, MAX_BODY_BYTES } from "./params.ts";
import { DEFAULT_MAX_PIXELS } from "../image/decode.ts";

/** A request option as an OpenAPI query parameter (its headers named in the description). */
const parameter = (spec: OptionSpec) => ({
  name: spec.name,
  in: "query",
  required: false,
  description: `${spec.description} Also accepted as header ${headersOf(spec).join(" or ")}.`,
  schema: schemaOf(spec),
});

const errorResponse = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

const imageBody = {
  required: true,
  description: `A JPEG or PNG image (at most ${MAX_BODY_BYTES} bytes, ${
    DEFAULT_MAX_PIXELS / 1e6
  } megapixels).`,
  content: {
    ...Object.fromEntries(
      IMAGE_TYPES.map((t) => [t, { schema: { type: "string", format: "binary" } }]),
    ),
    "multipart/form-data": {
      schema: { type: "object", properties: { image: { type: "string", format: "binary" } } },
    },
  },
};

const errors = {
  "400": errorResponse("A bad or unknown parameter, an empty or malformed body."),
  "405": errorResponse("Wrong HTTP method for the route (see Allow)."),
  "408": errorResponse("The body was not read in time, or the client left meanwhile."),
  "413": errorResponse("Body or image too large."),
  "414": errorResponse("URL too long."),
  "415": errorResponse("Not a JPEG or PNG."),
  "422": errorResponse("Corrupt or truncated image, or an extreme aspect ratio."),
  "429": errorResponse("Queue full or too many uploads; see Retry-After."),
  "500": errorResponse("A fault of the server (detail in its log)."),
  "503": errorResponse(
    "Budget unachievable (on_miss=reject), a queue or job timeout, shutting down, or no worker.",
  ),
};

/** The API description of a server (its served models are the `model` choices). */
export function openApiSpec(ctx: ServerContext): Record<string, unknown> {
  const parameters = [...REQUEST_OPTIONS, modelOption(ctx)].map(parameter);
  return {
    openapi: "3.1.0",
    info: {
      title: "edgemerge",
      version: "1",
      description: "Latency-budgeted image classification with training-free token merging.",
    },
    paths: {
      "/v1/classify": {
        post: {
          summary: "Classify an image within a latency budget.",
          parameters,
          requestBody: imageBody,
          responses: {
            "200": {
              description: "Top-k classes, the operating point used, timings and budget outcome.",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Result" } } },
            },
            ...errors,
          },
        },
      },
      "/v1/explain": {
        post: {
          summary: "PNG of the merge groups after blocks 3, 6, 9 and the last.",
          parameters,
          requestBody: imageBody,
          responses: {
            "200": { description: "The picture.", content: { "image/png": {} } },
            ...errors,
          },
        },
      },
      "/v1/models": { get: { summary: "Served model, backend, priors, operating points." } },
      "/healthz": { get: { summary: "Liveness." } },
      "/readyz": { get: { summary: "Readiness: model loaded and latency model calibrated." } },
      "/metrics": { get: { summary: "Prometheus metrics." } },
      "/openapi.json": { get: { summary: "This document." } },
      "/": { get: { summary: "Demo page." } },
    },
    components: {
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: { code: { type: "string" }, message: { type: "string" } },
            },
          },
        },
        Result: {
          type: "object",
          properties: {
            model: { type: "string" },
            top_k: {
              type: "array",
              items: {
                type: "object",
                properties: {
                  index: { type: "integer" },
                  label: { type: "string" },
                  score: { type: "number" },
                },
              },
            },
            operating_point: {
              type: "object",
              properties: {
                method: { type: "string" },
                schedule: { type: "array", items: { type: "integer" } },
                planned_schedule: { type: "array", items: { type: "integer" } },
                replans: { type: "integer" },
                schedule_kind: {
                  type: "string",
                  enum: SPREAD_KINDS.filter((k) => k !== "constant"),
                  description: "The ramp a budgeted plan spread its merges along (absent: even)",
                },
                theta: { type: "number" },
                resolution: {
                  type: "integer",
                  description: "Pixels the image was resized to before the patches were cut",
                },
                tokens: { type: "array", items: { type: "integer" } },
                gmacs: { type: "number" },
                reduction: { type: "number" },
                expected_top1: {
                  type: ["number", "null"],
                  description: "From the eval tables; null where eval measured no point of " +
                    "this method and schedule family",
                },
              },
            },
            timings: {
              type: "object",
              properties: {
                ...Object.fromEntries(
                  [
                    "read_ms",
                    "queue_ms",
                    "decode_ms",
                    "infer_ms",
                    "serialize_ms",
                    "total_ms",
                    "predicted_ms",
                  ].map((k) => [k, { type: ["number", "null"] }]),
                ),
                segments: {
                  type: "array",
                  description: "Each segment run: its blocks [from, to) and ms",
                  items: {
                    type: "object",
                    properties: {
                      blocks: { type: "array", items: { type: "integer" } },
                      ms: { type: "number" },
                    },
                  },
                },
                decoded_while_queued: {
                  type: "boolean",
                  description: "The image was decoded while the request waited for a worker " +
                    "(decode_ms then overlaps queue_ms)",
                },
              },
            },
            budget_ms: { type: ["number", "null"] },
            budget_met: { type: ["boolean", "null"] },
            backend: { type: "string" },
          },
        },
      },
    },
  };
}
