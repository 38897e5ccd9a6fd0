/**
 * `deno task start`: loads the model (`--model DIR`, `$EDGEMERGE_MODEL`, or the hub cache) and
 * serves the API on `$HOST:$PORT` (default 0.0.0.0:8000).
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice } from "./lib/backend/session.ts";
import { WorkerPool } from "./workers/pool.ts";
import { parseCommand, runMain, UsageError } from "./lib/cli/args.ts";
import { loadServiceData } from "./lib/kv/seed.ts";
import { createApp } from "./lib/serve/app.ts";
import { Metrics } from "./lib/serve/metrics.ts";
import { makeService } from "./lib/serve/service.ts";
import { defaultModelDir, loadModelConfig } from "./lib/vit/bundle.ts";

const USAGE = "usage: deno task start [--model DIR] [--backend auto|wasm|webgpu] [--kv PATH]";
const HELP = `${USAGE}

Serves edgemerge on $HOST:$PORT (default 0.0.0.0:8000) with a pool of inference workers:
$EDGEMERGE_WORKERS (default 1), $EDGEMERGE_THREADS WASM threads each (default 2),
$EDGEMERGE_QUEUE waiting requests before 429 (default 16), $EDGEMERGE_JOB_TIMEOUT_MS (30000),
$EDGEMERGE_MAX_BATCH queued requests at one operating point run together (default 1: off,
since a batch answers later than a single run; raise it for throughput without budgets).
  --model DIR    model directory (default $EDGEMERGE_MODEL, then the hub cache)
  --backend B    auto, wasm or webgpu (default $EDGEMERGE_BACKEND, then auto)
  --kv PATH      Deno KV with priors and operating points: a path, :memory: or a KV URL
                 (default $EDGEMERGE_KV, then the edgemerge cache); seeded from priors/`;

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
    kv: { type: "string" },
  }, HELP);
  const backend = (values.backend ?? Deno.env.get("EDGEMERGE_BACKEND") ?? "auto") as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) {
    throw new UsageError(`backend must be one of ${BACKEND_CHOICES.join(", ")}`);
  }
  const model = values.model ?? defaultModelDir();
  const { config } = await loadModelConfig(model);
  const data = await loadServiceData(config, values.kv);
  const metrics = new Metrics();
  const pool = await WorkerPool.start({
    size: envNumber("EDGEMERGE_WORKERS", 1),
    queueLimit: envNumber("EDGEMERGE_QUEUE", 16),
    jobTimeoutMs: envNumber("EDGEMERGE_JOB_TIMEOUT_MS", 30_000),
    maxBatch: envNumber("EDGEMERGE_MAX_BATCH", 1),
    init: {
      model,
      backend,
      threads: Deno.env.get("EDGEMERGE_THREADS") ? envNumber("EDGEMERGE_THREADS", 2) : undefined,
      warm: ["none"],
      prior: data.prior,
    },
    onReplace: (why) => {
      metrics.workerReplaced();
      console.error(`edgemerge: worker replaced (${why})`);
    },
  });
  console.log(`edgemerge: ${config.name} on backend ${pool.backend} (asked: ${backend})`);
  const service = makeService(config, pool, {
    table: data.table,
    metrics,
    info: { backendChoice: backend, priors: data.priors, kv: data.source },
  });
  const { budget } = service;
  const app = createApp(service);
  const port = Number(Deno.env.get("PORT") ?? 8000);
  const hostname = Deno.env.get("HOST") ?? "0.0.0.0";
  const server = Deno.serve({ port, hostname }, app.fetch);
  const t0 = performance.now();
  budget.calibrate().then(
    () =>
      console.log(
        `edgemerge: ready (latency model calibrated in ${Math.round(performance.now() - t0)} ms)`,
      ),
    (e) => console.error(`edgemerge: calibration failed: ${(e as Error).message}`),
  );
  Deno.addSignalListener("SIGTERM", async () => {
    console.log("edgemerge: draining");
    await pool.drain();
    await server.shutdown();
    Deno.exit(0);
  });
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
