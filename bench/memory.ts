/**
 * `deno task bench:memory [--model DIR[,DIR...]] [--requests N] [--starts K] [--v8-flags F]`:
 * resident memory of the server per backend (and per extra model), ready (every method's session
 * started and calibrated) and after N requests from 4 concurrent clients with budgets (so every
 * operating point runs), over several starts; with `--v8-flags`, the same again with those V8
 * flags, and the throughput of both, so the memory they save is weighed against the speed they
 * cost in one run. Prints a table and writes it to docs/PERFORMANCE.md.
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { integerOption, parseCommand, runMain, UsageError } from "../lib/cli/args.ts";
import { defaultModelDir } from "../lib/checkpoint/bundle.ts";
import { quantile, table, writeSection } from "./report.ts";
import { spawnServer } from "./server.ts";
import { IDLE_RELEASE_MS } from "../lib/backend/memory.ts";

/** How long after the load the idle RSS is read: past the server's idle release. */
const IDLE_WAIT_MS = IDLE_RELEASE_MS + 1000;

const USAGE = "usage: deno task bench:memory [--model DIR[,DIR...]] [--requests N] [--starts K] " +
  "[--v8-flags F] [--no-write]";
const HELP = `${USAGE}

Starts the server K times (default 3) per backend (wasm, native; 1 worker per model, KV in
memory) and reads its resident set (/proc/<pid>/status VmRSS: the process with its workers and
onnxruntime's threads) when /readyz says ready, after N requests (default 200) with budgets of
20-120 ms from 4 clients, and ${
  IDLE_WAIT_MS / 1000
} s later (the server hands freed memory back when
idle); reports the median and range over the starts. With several models it measures the first
alone, then all of them (the cost of each extra model). It also lists the largest mappings of one
ready server (/proc/<pid>/smaps), to show what holds the memory.

  --v8-flags F   also start every configuration with DENO_V8_FLAGS=F (for example
                 --max-semi-space-size=1,--optimize-for-size), starts interleaved with the
                 default ones; the unmerged p50 column shows what the flags cost.`;

/** Unmerged requests sent one at a time after the load, for the latency column. */
const PROBES = 40;

const SAMPLES = fileURLToPath(new URL("../../shared/data/imagenet-val-dev", import.meta.url));

/** Resident set of `pid` in MB. */
async function rssMb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
}

/** The `n` largest mappings of `pid` by resident size: MB and what the mapping is. */
async function largestMappings(pid: number, n: number): Promise<[number, string][]> {
  const out: [number, string][] = [];
  let name = "";
  for (const line of (await Deno.readTextFile(`/proc/${pid}/smaps`)).split("\n")) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/);
    if (head) name = `${head[1]} ${head[2].split("/").pop() || "anonymous"}`;
    const rss = line.match(/^Rss:\s+(\d+)/);
    if (rss) out.push([Number(rss[1]) / 1024, name]);
  }
  return out.sort((a, b) => b[0] - a[0]).slice(0, n);
}

/** Median and range of `xs`, as "median (min-max)" with `digits` decimals. */
function spread(xs: number[], digits = 0): string {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted[Math.floor(sorted.length / 2)];
  const f = (x: number) => x.toFixed(digits);
  return `${f(mid)} (${f(sorted[0])}-${f(sorted.at(-1)!)})`;
}

async function main(args: string[]) {
  const { values } = parseCommand(args, {
    model: { type: "string" },
    requests: { type: "string" },
    starts: { type: "string" },
    "v8-flags": { type: "string" },
    "no-write": { type: "boolean" },
  }, HELP);
  const models = (values.model ?? defaultModelDir()).split(",");
  const requests = integerOption(values.requests, "requests", 1, 100_000) ?? 200;
  const starts = integerOption(values.starts, "starts", 1, 20) ?? 3;
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
  const served = models.length > 1 ? [models.slice(0, 1), models] : [models];
  const name = (dir: string) => dir.replace(/\/+$/, "").split("/").pop();
  const flagSets = values["v8-flags"] ? ["", values["v8-flags"]] : [""];
  const rows: (string | number)[][] = [];
  let mappings: [number, string][] = [];
  for (const backend of ["wasm", "native"]) {
    for (const set of served) {
      const ready = flagSets.map((): number[] => []), loaded = flagSets.map((): number[] => []);
      const idled = flagSets.map((): number[] => []);
      const latency = flagSets.map((): number[] => []);
      for (let k = 0; k < starts; k++) {
        for (const [f, flags] of flagSets.entries()) {
          const port = 19000 + Math.floor(Math.random() * 1000);
          const url = `http://127.0.0.1:${port}`;
          const server = spawnServer(set.join(","), port, {
            EDGEMERGE_BACKEND: backend,
            ...(flags && { DENO_V8_FLAGS: flags }),
          });
          try {
            while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) {
              await new Promise((r) => setTimeout(r, 200));
            }
            ready[f].push(await rssMb(server.pid));
            if (backend === "wasm" && set.length === 1 && k === 0 && !flags) {
              mappings = await largestMappings(server.pid, 8);
            }
            let sent = 0;
            const client = async () => {
              while (sent < requests) {
                const i = sent++;
                const r = await fetch(`${url}/v1/classify?budget_ms=${20 + (i % 11) * 10}`, {
                  method: "POST",
                  body: pictures[i % pictures.length] as Uint8Array<ArrayBuffer>,
                  headers: { "content-type": "image/jpeg" },
                });
                await r.body?.cancel();
              }
            };
            await Promise.all([client(), client(), client(), client()]);
            loaded[f].push(await rssMb(server.pid));
            await new Promise((r) => setTimeout(r, IDLE_WAIT_MS));
            idled[f].push(await rssMb(server.pid));
            const times: number[] = [];
            for (let i = 0; i < PROBES; i++) {
              const start = performance.now();
              const r = await fetch(`${url}/v1/classify?method=none`, {
                method: "POST",
                body: pictures[i % pictures.length] as Uint8Array<ArrayBuffer>,
                headers: { "content-type": "image/jpeg" },
              });
              await r.arrayBuffer();
              times.push(performance.now() - start);
            }
            latency[f].push(quantile(times, 0.5));
            console.error(
              `${backend} ${set.map(name).join("+")}${flags && ` ${flags}`} start ${k + 1}: ready ${
                ready[f].at(-1)!.toFixed(0)
              } MB, after ${requests} requests ${loaded[f].at(-1)!.toFixed(0)} MB, idle ${
                idled[f].at(-1)!.toFixed(0)
              } MB, unmerged p50 ${latency[f].at(-1)!.toFixed(1)} ms`,
            );
          } finally {
            server.kill("SIGTERM");
            await server.status;
          }
        }
      }
      for (const [f, flags] of flagSets.entries()) {
        rows.push([
          backend,
          set.map(name).join(" + "),
          flags || "-",
          spread(ready[f]),
          spread(loaded[f]),
          spread(idled[f]),
          spread(latency[f], 1),
        ]);
      }
    }
  }
  const md = table([
    "backend",
    "models",
    "V8 flags",
    "RSS ready (MB)",
    `RSS after ${requests} requests (MB)`,
    "RSS idle after (MB)",
    "unmerged p50 ms",
  ], rows);
  const maps = table(
    ["MB resident", "mapping (perms, file)"],
    mappings.map(([mb, what]) => [mb.toFixed(1), what]),
  );
  console.log(`${md}\n\n${maps}`);
  if (!values["no-write"]) {
    await writeSection(
      "docs/PERFORMANCE.md",
      "memory",
      `### Server memory (1 worker per model, every method ready, ${
        new Date().toISOString().slice(0, 10)
      })

Command: \`deno task bench:memory --model ${
        models.join(",")
      } --requests ${requests} --starts ${starts}${
        values["v8-flags"] ? ` --v8-flags=${values["v8-flags"]}` : ""
      }\`.
VmRSS of the server process (main thread, the workers, onnxruntime's threads): median (range) over
${starts} starts; "idle after" is read ${IDLE_WAIT_MS / 1000} s after the load, once the server has
handed freed memory back; "unmerged p50" is the median client time of ${PROBES} unmerged requests sent one at
a time after the load, to show what a setting costs in speed.

${md}

The largest mappings of one ready WASM server with ${name(models[0])} (anonymous ones are the
WASM memory, malloc arenas and V8 heaps; the deno binary is file-backed):

${maps}`,
    );
  }
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
