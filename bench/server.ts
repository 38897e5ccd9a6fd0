/**
 * Starting the edgemerge server as a child process for the benches that load it.
 * @module
 */
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** Spawns `main.ts --model MODEL` on 127.0.0.1:`port` with KV in memory, plus `env`. */
export function spawnServer(
  model: string,
  port: number,
  env: Record<string, string> = {},
  stderr: "null" | "inherit" = "null",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-env",
      "--allow-net",
      "--allow-write",
      "--allow-ffi",
      MAIN,
      "--model",
      model,
    ],
    env: { PORT: String(port), HOST: "127.0.0.1", EDGEMERGE_KV: ":memory:", ...env },
    stdout: "null",
    stderr,
  }).spawn();
}
