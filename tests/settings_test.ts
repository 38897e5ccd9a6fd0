import assert from "node:assert/strict";
import { DEFAULT_OUTSIDE_MS, DEFAULT_TIME_PRICE } from "../lib/budget/budget.ts";
import { readSettings, spinPools } from "../lib/serve/settings.ts";

Deno.test("settings: native pools spin only where a core is left for HTTP and decoding, unless told", () => {
  assert.equal(spinPools("auto", 2, 2), false);
  assert.equal(spinPools("auto", 1, 2), true);
  assert.equal(spinPools("on", 2, 2), true);
  assert.equal(spinPools("off", 1, 8), false);
  assert.equal(readSettings({}).spin, "auto");
  assert.equal(readSettings({ spin: "off" }).spin, "off");
  Deno.env.set("EDGEMERGE_SPIN", "on");
  try {
    assert.equal(readSettings({}).spin, "on");
    assert.equal(readSettings({ spin: "off" }).spin, "off", "the flag wins over the environment");
    assert.throws(() => readSettings({ spin: "sometimes" }), /spin/);
  } finally {
    Deno.env.delete("EDGEMERGE_SPIN");
  }
});

Deno.test("settings: queued images are decoded ahead unless told not to", () => {
  assert.equal(readSettings({}).decodeAhead, true);
  assert.equal(readSettings({ "decode-ahead": "off" }).decodeAhead, false);
  assert.throws(() => readSettings({ "decode-ahead": "maybe" }), /decode-ahead/);
});

Deno.test("settings: the time price defaults to the budget's, 0 turns it off, bad values are refused", () => {
  assert.equal(readSettings({}).timePrice, DEFAULT_TIME_PRICE);
  assert.equal(readSettings({ "time-price": "0" }).timePrice, 0);
  Deno.env.set("EDGEMERGE_TIME_PRICE", "1.5");
  try {
    assert.equal(readSettings({}).timePrice, 1.5);
  } finally {
    Deno.env.delete("EDGEMERGE_TIME_PRICE");
  }
  assert.throws(() => readSettings({ "time-price": "-1" }), /time.price/);
  assert.throws(() => readSettings({ "time-price": "cheap" }), /time.price/);
});

Deno.test("settings: methods share one session unless each is asked to have its own", () => {
  assert.equal(readSettings({}).sessions, "shared");
  assert.equal(readSettings({ sessions: "per-method" }).sessions, "per-method");
  Deno.env.set("EDGEMERGE_SESSIONS", "per-method");
  try {
    assert.equal(readSettings({}).sessions, "per-method");
  } finally {
    Deno.env.delete("EDGEMERGE_SESSIONS");
  }
  assert.throws(() => readSettings({ sessions: "one" }), /sessions/);
});

Deno.test("settings: the time outside the server's view has a default, can be given; bad values are refused", () => {
  assert.equal(readSettings({}).outsideMs, DEFAULT_OUTSIDE_MS);
  assert.equal(readSettings({ "outside-ms": "1.5" }).outsideMs, 1.5);
  Deno.env.set("EDGEMERGE_OUTSIDE_MS", "3");
  try {
    assert.equal(readSettings({}).outsideMs, 3);
  } finally {
    Deno.env.delete("EDGEMERGE_OUTSIDE_MS");
  }
  assert.throws(() => readSettings({ "outside-ms": "-1" }), /outside.ms/);
});
