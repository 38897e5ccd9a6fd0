/**
 * `deno task pull NAME [--hub URL] [--cache DIR]`
 * @module
 */
import { hubCacheDir } from "../checkpoint/bundle.ts";
import { hubBaseUrl, pullModel, timmRepo } from "../checkpoint/hub.ts";
import { parseCommand, runMain, UsageError } from "./args.ts";

const USAGE = "usage: deno task pull NAME [--hub URL] [--cache DIR]";
const HELP = `
${USAGE}

Downloads a timm model (config.json + model.safetensors) from the Hugging Face hub into the
edgemerge cache, where --model defaults to looking. Interrupted downloads resume.

  NAME          e.g. deit_tiny_patch16_224 (-> timm/deit_tiny_patch16_224.fb_in1k), or owner/repo
  --hub URL     hub base URL (default $EDGEMERGE_HUB_URL, then https://huggingface.co)
  --cache DIR   cache directory (default $EDGEMERGE_CACHE, then ~/.cache/edgemerge)
`;

async function main(args: string[]) {
  const { values, positionals } = parseCommand(
    args,
    {
      hub: { type: "string" },
      cache: { type: "string" },
    },
    HELP,
    true,
  );
  if (positionals.length !== 1) throw new UsageError("give one model NAME");
  const [name] = positionals;
  const baseUrl = values.hub ?? hubBaseUrl();
  console.error(`pulling ${timmRepo(name)} from ${baseUrl}`);
  let last = 0;
  const dir = await pullModel(name, {
    baseUrl,
    cacheDir: values.cache ?? hubCacheDir(),
    onProgress: (file, done, total) => {
      const now = performance.now();
      if (now - last < 200 && done !== total) return;
      last = now;
      const mb = (b: number) => (b / 1e6).toFixed(1);
      const pct = total ? ` ${((100 * done) / total).toFixed(0)}%` : "";
      Deno.stderr.writeSync(new TextEncoder().encode(
        `\r${file.split("/").pop()}: ${mb(done)}${total ? ` / ${mb(total)}` : ""} MB${pct}\x1b[K${
          done === total ? "\n" : ""
        }`,
      ));
    },
  });
  console.log(dir);
}

if (import.meta.main) await runMain(() => main(Deno.args), USAGE);
