/**
 * `deno task bench:memory [--model DIR] [--requests N]`: resident memory of the server per
 * backend, ready (every method's session started and calibrated) and after N requests from 4
 * concurrent clients with budgets (so every operating point runs). Prints a table and writes it
 * to docs/PERFORMANCE.md.
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { numberOption, parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import { defaultModelDir } from "../lib/checkpoint/bundle.ts";
import { table, writeSection } from "./report.ts";
import { spawnServer } from "./server.ts";

const USAGE = "usage: deno task bench:memory [--model DIR] [--requests N] [--no-write]";
const HELP = `${USAGE}

Starts the server once per backend (wasm, native; 1 worker, KV in memory), reads its resident set
(/proc/<pid>/status VmRSS: the process with its workers and onnxruntime's threads) when /readyz
says ready and after N requests (default 200) with budgets of 20-120 ms from 4 clients.`;

const SAMPLES = fileURLToPath(new URL("../../shared/data/imagenet-val-dev", import.meta.url));

/** Resident set of `pid` in MB. */
async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    requests: { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const model = values.model ?? defaultModelDir();
  const requests = numberOption(values.requests, "requests", 1, 100_000) ?? 200;
  const pictures: Uint8Array[] = [];
  try {
    for await (const e of Deno.readDir(SAMPLES)) {
      if (e.name.endsWith(".JPEG") && pictures.length < 32) {
        pictures.push(await Deno.readFile(join(SAMPLES, e.name)));
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (pictures.length === 0) throw new UsageError(`bench:memory needs JPEGs in ${SAMPLES}`);
  const rows: (string | number)[][] = [];
  for (const backend of ["wasm", "native"]) {
    const port = 19000 + Math.floor(Math.random() * 1000);
    const url = `http://127.0.0.1:${port}`;
    const server = spawnServer(model, port, { EDGEMERGE_BACKEND: backend });
    try {
      while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) {
        await new Promise((r) => setTimeout(r, 200));
      }
      const ready = await rssMb(server.pid);
      let sent = 0;
      const client = async () => {
        while (sent < requests) {
          const k = sent++;
          const r = await fetch(`${url}/v1/classify?budget_ms=${20 + (k % 11) * 10}`, {
            method: "POST",
            body: pictures[k % pictures.length] as Uint8Array<ArrayBuffer>,
            headers: { "content-type": "image/jpeg" },
          });
          await r.body?.cancel();
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      const loaded = await rssMb(server.pid);
      rows.push([backend, ready.toFixed(0), loaded.toFixed(0)]);
      console.error(
        `${backend}: ready ${ready.toFixed(0)} MB, after ${requests} ${loaded.toFixed(0)} MB`,
      );
    } finally {
      server.kill("SIGTERM");
      await server.status;
    }
  }
  const md = table(["backend", "RSS ready (MB)", `RSS after ${requests} requests (MB)`], rows);
  console.log(md);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "memory",
      `### Server memory (deit_tiny_patch16_224, 1 worker, every method ready, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:memory --model ${model} --requests ${requests}\`. VmRSS of the server
process (main thread, the worker, onnxruntime's threads).

${md}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
