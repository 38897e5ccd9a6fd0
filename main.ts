/**
 * `deno task start`: loads the model (`--model DIR`, `$EDGEMERGE_MODEL`, or the hub cache) and
 * serves the API on `$HOST:$PORT` (default 0.0.0.0:8000).
 * @module
 */
import { WorkerPool } from "./workers/pool.ts";
import { collectGarbage, IdleRelease, releaseFreedMemory } from "./lib/backend/memory.ts";
import { DEFAULT_THREADS } from "./lib/backend/session.ts";
import { parseCommand, runMain, UsageError } from "./lib/cli/args.ts";
import { loadServiceData } from "./lib/kv/seed.ts";
import { fromResolution } from "./lib/budget/points.ts";
import { argsOptions, helpLines } from "./lib/options/spec.ts";
import { createApp } from "./lib/serve/app.ts";
import { makeContext, servedModel } from "./lib/serve/context.ts";
import { Metrics } from "./lib/serve/metrics.ts";
import { readSettings, SERVER_SETTINGS, spinPools } from "./lib/serve/settings.ts";
import { defaultModelDir, loadModelConfig } from "./lib/checkpoint/bundle.ts";

const USAGE = "usage: deno task start [--model DIR] [--backend B] [--kv PATH] [--workers N] ...";
const HELP = `${USAGE}

Serves edgemerge on --host:--port (default 0.0.0.0:8000) with a pool of inference workers. Each
setting is a flag or an environment variable (the flag wins):

${helpLines(SERVER_SETTINGS)}`;

/** One model's worker pool and budget, as `ctx` serves it. */
async function serveModel(dir: string, settings: ReturnType<typeof readSettings>, spin: boolean) {
  const { config, preprocess } = await loadModelConfig(dir);
  const data = await loadServiceData(config, settings.kv);
  const pool = await WorkerPool.start({
    size: settings.workers,
    queueLimit: settings.queue,
    jobTimeoutMs: settings.jobTimeoutMs,
    maxBatch: settings.maxBatch,
    init: {
      model: dir,
      backend: settings.backend,
      threads: settings.threads,
      spin,
      sessions: settings.sessions,
      warm: ["none"],
      prior: data.prior,
      replan: settings.replan,
      segmentBlocks: settings.segmentBlocks,
    },
    onReplace: (why) => {
      metrics.workerReplaced();
      console.error(`edgemerge: ${config.name}: worker replaced (${why})`);
    },
  });
  if (settings.decodeAhead) pool.decodeAhead(preprocess);
  console.log(
    `edgemerge: ${config.name} on backend ${pool.backend} (asked: ${settings.backend}; ` +
      `${pool.backendReason}), sessions ${settings.sessions}`,
  );
  const table = fromResolution(
    data.table,
    settings.resolutions ? settings.minResolution : Infinity,
  );
  const served = servedModel(config, pool, table, {
    tau: data.prior?.suggestedTau,
    timePrice: settings.timePrice,
    outsideMs: settings.outsideMs,
    segment: settings.segmentBlocks,
  });
  return { served, data };
}

const metrics = new Metrics();

async function main(args: string[]) {
  const { values } = parseCommand(args, argsOptions(SERVER_SETTINGS), HELP);
  const settings = readSettings(values);
  const dirs = (settings.model ?? defaultModelDir()).split(",").map((d) => d.trim())
    .filter(Boolean);
  const threads = dirs.length * settings.workers * (settings.threads ?? DEFAULT_THREADS);
  const spin = spinPools(settings.spin, threads, navigator.hardwareConcurrency);
  const models: Awaited<ReturnType<typeof serveModel>>[] = [];
  for (const dir of dirs) models.push(await serveModel(dir, settings, spin));
  const names = models.map((m) => m.served.config.name);
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated) throw new UsageError(`model ${repeated} is given twice`);
  const ctx = makeContext(models.map((m) => m.served), {
    metrics,
    limits: settings.limits,
    info: {
      backendChoice: settings.backend,
      priors: [...new Set(models.flatMap((m) => m.data.priors))],
      kv: models[0].data.source,
    },
  });
  const app = createApp(ctx);
  const idle = new IdleRelease();
  const server = Deno.serve(
    { port: settings.port, hostname: settings.host },
    async (request, info) => {
      idle.begin();
      try {
        return await app.fetch(request, info);
      } finally {
        idle.end();
      }
    },
  );
  const t0 = performance.now();
  // One model at a time: calibrating them together would time each against the other's load.
  (async () => {
    for (const { served } of models) await served.budget.calibrate();
  })().then(
    () => {
      // Loading left dropped buffers and freed arenas; hand them back before serving.
      collectGarbage();
      const trimmed = releaseFreedMemory() ? ", freed memory returned" : "";
      console.log(
        `edgemerge: ready (latency model calibrated in ${
          Math.round(performance.now() - t0)
        } ms${trimmed})`,
      );
    },
    (e) => {
      ctx.failure = `calibration failed: ${(e as Error).message}`;
      console.error(`edgemerge: ${ctx.failure}`);
    },
  );
  Deno.addSignalListener("SIGTERM", async () => {
    console.log(`edgemerge: draining (at most ${settings.drainMs} ms)`);
    ctx.draining = true;
    await Promise.all(models.map((m) => m.served.inference.drain(settings.drainMs)));
    // Connections that never finish sending (a trickled upload) must not hold the exit.
    await Promise.race([server.shutdown(), new Promise((r) => setTimeout(r, 1000))]);
    Deno.exit(0);
  });
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
