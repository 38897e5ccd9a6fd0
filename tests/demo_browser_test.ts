/// <reference lib="dom" />
// The demo page in headless Chromium (Debian's `chromium`, driven by playwright-core): upload an
// image, see a prediction, the schedule, the timings and the explain picture.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { existsSync } from "node:fs";
import { Image } from "imagescript";
import { chromium } from "playwright-core";
import { createApp } from "../lib/serve/app.ts";
import { Engine } from "../lib/runtime/engine.ts";
import { LocalInference } from "../lib/runtime/local.ts";
import { makeContext, servedModel } from "../lib/serve/context.ts";
import { tinyModel } from "./helpers/fixtures.ts";

const CHROMIUM = Deno.env.get("EDGEMERGE_CHROMIUM") ?? "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) console.warn(`skipping the demo page test: no Chromium at ${CHROMIUM}`);

Deno.test({
  name: "demo page: upload an image in Chromium, see top-5, schedule, timings and the picture",
  ignore: !HAS_CHROMIUM,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const bundle = (await tinyModel()).bundle;
    const engine = new Engine(bundle, { backend: "wasm", threads: 1 });
    const served = servedModel(bundle.config, new LocalInference(engine));
    await served.budget.calibrate(1);
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createApp(makeContext([served])).fetch,
    );
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);
      await page.waitForFunction(() => document.getElementById("backend")!.textContent !== "");
      assert.match(await page.textContent("#backend") ?? "", /tiny_test_vit on wasm/);

      const png = await new Image(64, 48).fill(0x3366ccff).encode();
      await page.setInputFiles("#file", {
        name: "blue.png",
        mimeType: "image/png",
        buffer: Buffer.from(png),
      });
      await page.waitForSelector("#result:not([hidden])");
      assert.equal(await page.locator("#top5 tbody tr").count(), 5);
      assert.match(await page.textContent("#top5 tbody") ?? "", /class \d/);
      assert.match(await page.textContent("#schedule") ?? "", /^0 0 0 0$/);
      assert.match(await page.textContent("#timings") ?? "", /inference [\d.]+ ms, total/);
      await page.waitForFunction(() => {
        const img = document.getElementById("explain") as HTMLImageElement;
        return img.complete && img.naturalWidth > 0;
      });
      assert.equal(
        await page.$eval("#explain", (img) => (img as HTMLImageElement).naturalWidth),
        112,
      );

      // A budget and a method: the answer reports the budget outcome and a merged schedule.
      await page.$eval("#budget", (el) => {
        (el as HTMLInputElement).value = "300";
        el.dispatchEvent(new Event("input"));
      });
      await page.selectOption("#method", "tome");
      await page.click("#again");
      await page.waitForFunction(() =>
        /budget 300 ms (met|missed)/.test(document.getElementById("timings")!.textContent!)
      );
      // With 300 ms on a tiny model the best plan may merge nothing: it is ToMe's, planned and run.
      assert.match(await page.textContent("#point") ?? "", /^tome at 32 px,/);
      assert.match(await page.textContent("#planned") ?? "", /^\d+ \d+ \d+ \d+$/);
      assert.equal(await page.textContent("#error"), "");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
      await engine.close();
    }
  },
});
