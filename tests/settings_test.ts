import assert from "node:assert/strict";
import { DEFAULT_OUTSIDE_MS, defaultTimePrice, WASM_TIME_PRICE } from "../lib/budget/budget.ts";
import { parseCommand, UsageError } from "../lib/cli/args.ts";
import { readSettings, spinPools } from "../lib/serve/settings.ts";

/** Runs `fn` with the environment variable `name` set to `value`, and removes it after. */
function withEnv(name: string, value: string, fn: () => void) {
  Deno.env.set(name, value);
  try {
    fn();
  } finally {
    Deno.env.delete(name);
  }
}

Deno.test("settings: native pools spin only where a core is left for HTTP and decoding, unless told", () => {
  assert.equal(spinPools("auto", 2, 2), false);
  assert.equal(spinPools("auto", 1, 2), true);
  assert.equal(spinPools("on", 2, 2), true);
  assert.equal(spinPools("off", 1, 8), false);
  assert.equal(readSettings({}).spin, "auto");
  assert.equal(readSettings({ spin: "off" }).spin, "off");
  withEnv("EDGEMERGE_SPIN", "on", () => {
    assert.equal(readSettings({}).spin, "on");
    assert.equal(readSettings({ spin: "off" }).spin, "off", "the flag wins over the environment");
    assert.throws(() => readSettings({ spin: "sometimes" }), /spin/);
  });
});

Deno.test("settings: queued images are decoded ahead unless told not to", () => {
  assert.equal(readSettings({}).decodeAhead, true);
  assert.equal(readSettings({ "decode-ahead": "off" }).decodeAhead, false);
  assert.throws(() => readSettings({ "decode-ahead": "maybe" }), /decode-ahead/);
});

Deno.test("settings: the time price defaults to the backend's, 0 turns it off, bad values are refused", () => {
  assert.equal(readSettings({}).timePrice, undefined); // the budget's default for its backend
  assert.equal(defaultTimePrice("wasm"), WASM_TIME_PRICE);
  assert.equal(defaultTimePrice("native"), 0);
  assert.equal(defaultTimePrice("webgpu"), 0);
  assert.equal(readSettings({ "time-price": "0" }).timePrice, 0);
  withEnv("EDGEMERGE_TIME_PRICE", "1.5", () => {
    assert.equal(readSettings({}).timePrice, 1.5);
  });
  assert.throws(() => readSettings({ "time-price": "-1" }), /time.price/);
  assert.throws(() => readSettings({ "time-price": "cheap" }), /time.price/);
});

Deno.test("settings: budgeted runs re-plan and hurry for those waiting unless told otherwise", () => {
  assert.equal(readSettings({}).replan, "on");
  assert.equal(readSettings({ replan: "own" }).replan, "own");
  withEnv("EDGEMERGE_REPLAN", "off", () => {
    assert.equal(readSettings({}).replan, "off");
  });
  assert.throws(() => readSettings({ replan: "sometimes" }), /replan/);
});

Deno.test("settings: budgeted runs are cut into segments of 6 blocks unless told otherwise", () => {
  assert.equal(readSettings({}).segmentBlocks, 6);
  assert.equal(readSettings({ "segment-blocks": "4" }).segmentBlocks, 4);
  withEnv("EDGEMERGE_SEGMENT_BLOCKS", "3", () => {
    assert.equal(readSettings({}).segmentBlocks, 3);
  });
  assert.throws(() => readSettings({ "segment-blocks": "0" }), /segment.blocks/);
  assert.throws(() => readSettings({ "segment-blocks": "2.5" }), /segment.blocks/);
});

Deno.test("settings: methods share one session unless each is asked to have its own", () => {
  assert.equal(readSettings({}).sessions, "shared");
  assert.equal(readSettings({ sessions: "per-method" }).sessions, "per-method");
  withEnv("EDGEMERGE_SESSIONS", "per-method", () => {
    assert.equal(readSettings({}).sessions, "per-method");
  });
  assert.throws(() => readSettings({ sessions: "one" }), /sessions/);
});

Deno.test("settings: the time outside the server's view has a default, can be given; bad values are refused", () => {
  assert.equal(readSettings({}).outsideMs, DEFAULT_OUTSIDE_MS);
  assert.equal(readSettings({ "outside-ms": "1.5" }).outsideMs, 1.5);
  withEnv("EDGEMERGE_OUTSIDE_MS", "3", () => {
    assert.equal(readSettings({}).outsideMs, 3);
  });
  assert.throws(() => readSettings({ "outside-ms": "-1" }), /outside.ms/);
});

Deno.test("settings: budgets may plan at any resolution unless a floor is given; bad floors are refused", () => {
  assert.equal(readSettings({}).minResolution, 0);
  assert.equal(readSettings({ "min-resolution": "128" }).minResolution, 128);
  withEnv("EDGEMERGE_MIN_RESOLUTION", "160", () => {
    assert.equal(readSettings({}).minResolution, 160);
  });
  assert.throws(() => readSettings({ "min-resolution": "-16" }), /min.resolution/);
  assert.throws(() => readSettings({ "min-resolution": "small" }), /min.resolution/);
});

Deno.test("settings: host and port are settings like the others, checked before anything loads", () => {
  if (Deno.env.get("PORT") === undefined) assert.equal(readSettings({}).port, 8000);
  if (Deno.env.get("HOST") === undefined) assert.equal(readSettings({}).host, "0.0.0.0");
  assert.equal(readSettings({ port: "0" }).port, 0);
  assert.equal(readSettings({ host: "127.0.0.1" }).host, "127.0.0.1");
  assert.throws(() => readSettings({ port: "70000" }), /--port must be an integer in \[0, 65535\]/);
  withEnv("PORT", "80x", () => {
    assert.throws(() => readSettings({}), /PORT must be an integer/);
    assert.equal(readSettings({ port: "9123" }).port, 9123, "the flag wins over the environment");
  });
});

Deno.test("settings: a command refuses arguments it does not take", () => {
  const options = { model: { type: "string" as const } };
  assert.throws(() => parseCommand(["../models/deit"], options, "help"), UsageError);
  assert.throws(() => parseCommand(["--modle", "x"], options, "help"), UsageError);
  const { positionals } = parseCommand(["a.png", "--model", "m"], options, "help", true);
  assert.deepEqual(positionals, ["a.png"]);
});
