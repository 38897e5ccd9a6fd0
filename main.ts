/**
 * `deno task start`: loads the model (`--model DIR`, `$EDGEMERGE_MODEL`, or the hub cache) and
 * serves the API on `$HOST:$PORT` (default 0.0.0.0:8000).
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice } from "./lib/backend/session.ts";
import { WorkerPool } from "./workers/pool.ts";
import { parseCommand, runMain, UsageError } from "./lib/cli/args.ts";
import { createApp } from "./lib/serve/app.ts";
import { defaultModelDir, loadModelConfig } from "./lib/vit/bundle.ts";

const USAGE = "usage: deno task start [--model DIR] [--backend auto|wasm|webgpu]";
const HELP = `${USAGE}

Serves edgemerge on $HOST:$PORT (default 0.0.0.0:8000) with a pool of inference workers:
$EDGEMERGE_WORKERS (default 1), $EDGEMERGE_THREADS WASM threads each (default 2),
$EDGEMERGE_QUEUE waiting requests before 429 (default 16), $EDGEMERGE_JOB_TIMEOUT_MS (30000).
  --model DIR    model directory (default $EDGEMERGE_MODEL, then the hub cache)
  --backend B    auto, wasm or webgpu (default $EDGEMERGE_BACKEND, then auto)`;

function envNumber(name: string, fallback: number): number {
  const value = Deno.env.get(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1) throw new UsageError(`${name} must be a positive number`);
  return n;
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    backend: { type: "string" },
  }, HELP);
  const backend = (values.backend ?? Deno.env.get("EDGEMERGE_BACKEND") ?? "auto") as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) {
    throw new UsageError(`backend must be one of ${BACKEND_CHOICES.join(", ")}`);
  }
  const model = values.model ?? defaultModelDir();
  const { config } = await loadModelConfig(model);
  const pool = await WorkerPool.start({
    size: envNumber("EDGEMERGE_WORKERS", 1),
    queueLimit: envNumber("EDGEMERGE_QUEUE", 16),
    jobTimeoutMs: envNumber("EDGEMERGE_JOB_TIMEOUT_MS", 30_000),
    init: {
      model,
      backend,
      threads: Deno.env.get("EDGEMERGE_THREADS") ? envNumber("EDGEMERGE_THREADS", 2) : undefined,
      warm: ["none"],
    },
    onReplace: (why) => console.error(`edgemerge: worker replaced (${why})`),
  });
  console.log(`edgemerge: ${config.name} on ${pool.backend}`);
  const port = Number(Deno.env.get("PORT") ?? 8000);
  const hostname = Deno.env.get("HOST") ?? "0.0.0.0";
  const server = Deno.serve({ port, hostname }, createApp(pool, config).fetch);
  Deno.addSignalListener("SIGTERM", async () => {
    console.log("edgemerge: draining");
    await pool.drain();
    await server.shutdown();
    Deno.exit(0);
  });
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
