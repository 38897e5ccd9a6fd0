/**
 * `deno task start`: loads the model (`--model DIR`, `$EDGEMERGE_MODEL`, or the hub cache) and
 * serves the API on `$HOST:$PORT` (default 0.0.0.0:8000).
 * @module
 */
import { BACKEND_CHOICES, type BackendChoice } from "./lib/backend/session.ts";
import { Engine } from "./lib/serve/engine.ts";
import { parseCommand, runMain, UsageError } from "./lib/cli/args.ts";
import { createApp } from "./lib/serve/app.ts";
import { defaultModelDir, loadModelBundle } from "./lib/vit/bundle.ts";

const USAGE = "usage: deno task start [--model DIR] [--backend auto|wasm|webgpu]";
const HELP = `${USAGE}

Serves edgemerge on $HOST:$PORT (default 0.0.0.0:8000).
  --model DIR    model directory (default $EDGEMERGE_MODEL, then the hub cache)
  --backend B    auto, wasm or webgpu (default $EDGEMERGE_BACKEND, then auto)`;

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    backend: { type: "string" },
  }, HELP);
  const backend = (values.backend ?? Deno.env.get("EDGEMERGE_BACKEND") ?? "auto") as BackendChoice;
  if (!BACKEND_CHOICES.includes(backend)) {
    throw new UsageError(`backend must be one of ${BACKEND_CHOICES.join(", ")}`);
  }
  const engine = new Engine(await loadModelBundle(values.model ?? defaultModelDir()), { backend });
  // Start the unmerged session now, so the first request does not pay for it.
  const plain = await engine.classifier("none");
  console.log(`edgemerge: ${engine.bundle.config.name} on ${plain.session.backend}`);
  const port = Number(Deno.env.get("PORT") ?? 8000);
  const hostname = Deno.env.get("HOST") ?? "0.0.0.0";
  Deno.serve({ port, hostname }, createApp(engine).fetch);
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
