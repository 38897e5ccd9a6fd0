import assert from "node:assert/strict";
import { METHODS } from "../lib/merge/methods.ts";
import {
  constantSchedule,
  decreasingSchedule,
  delayedSchedule,
  matchGmacs,
  reductionOf,
  SCHEDULE_KINDS,
  scheduleForReduction,
  SPREAD_KINDS,
  spreadMerges,
  tokensPerBlock,
} from "../lib/merge/schedule.ts";
import { ARCHITECTURES } from "../lib/checkpoint/config.ts";

const deit = ARCHITECTURES.deit_tiny_patch16_224.vit;

Deno.test("schedules: ToMe's decreasing ramp matches the official parse_r (r = 16, inflect -0.5)", () => {
  assert.deepEqual(decreasingSchedule(16, 12), [24, 22, 21, 19, 18, 16, 15, 13, 12, 10, 9, 8]);
  assert.deepEqual(constantSchedule(3, 4), [3, 3, 3, 3]);
  assert.deepEqual(delayedSchedule(5, 6, 2), [0, 0, 5, 5, 5, 5]);
});

Deno.test("schedules: ToMe token counts follow the official cap (r = 16 merges 10 in the last block)", () => {
  assert.deepEqual(
    tokensPerBlock(deit, METHODS.tome, constantSchedule(16, 12)),
    [197, 181, 165, 149, 133, 117, 101, 85, 69, 53, 37, 21, 11],
  );
  assert.equal(reductionOf(deit, METHODS.tome, constantSchedule(0, 12)), 0);
  assert.equal(matchGmacs(deit, METHODS.tome, constantSchedule(0, 12)), 0);
  assert.ok(matchGmacs(deit, METHODS.pitome, constantSchedule(8, 12)) > 0);
});

Deno.test("schedules: a target reduction is hit within 0.5 pt, monotonically, for every method and kind", () => {
  for (const method of Object.values(METHODS)) {
    for (const kind of SCHEDULE_KINDS) {
      let previous = -1;
      for (const target of [0.1, 0.23, 0.33, 0.45]) {
        const schedule = scheduleForReduction(deit, method, target, { kind, tau: 3 });
        const got = reductionOf(deit, method, schedule);
        if (kind !== "decreasing") {
          assert.ok(Math.abs(got - target) < 0.005, `${method.name} ${kind} ${target}: ${got}`);
        }
        assert.ok(got >= previous, `${method.name} ${kind}: not monotone`);
        previous = got;
        if (kind === "delayed" || kind.endsWith("linear") || kind.endsWith("quadratic")) {
          assert.deepEqual(schedule.slice(0, 3), [0, 0, 0], `${kind} ${schedule}`);
        }
        if (kind.startsWith("alternate")) {
          assert.ok(schedule.every((r, l) => l % 2 === 0 || r === 0), `${schedule}`);
        }
      }
    }
  }
});

Deno.test("schedules: spreadMerges keeps the even spread, front-loads the ramps, never takes a merge back", () => {
  assert.deepEqual(spreadMerges(14, [0, 1, 2, 3], 4, "constant", 197), [4, 4, 3, 3]);
  assert.deepEqual(spreadMerges(10, [0, 1, 2, 3], 4, "linear", 197), [4, 3, 2, 1]);
  assert.deepEqual(spreadMerges(30, [0, 1, 2, 3], 4, "quadratic", 197), [16, 9, 4, 1]);
  // The weights are of the block's place in the model, not in the list: the rest of a run.
  assert.deepEqual(spreadMerges(3, [2, 3], 4, "linear", 197), [2, 1]);
  assert.deepEqual(spreadMerges(10, [0, 1], 2, "linear", 3), [3, 3]); // at most `most` each
  // The alternate families merge in the model's even blocks only, wherever the list starts.
  assert.deepEqual(spreadMerges(7, [0, 1, 2, 3], 4, "alternate", 197), [4, 0, 3, 0]);
  assert.deepEqual(spreadMerges(10, [0, 1, 2, 3], 4, "alternate-linear", 197), [7, 0, 3, 0]);
  assert.deepEqual(spreadMerges(5, [3, 4, 5], 6, "alternate", 197), [0, 5, 0]);
  const blocks = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  for (const kind of SPREAD_KINDS) {
    const merges = (l: number) => !kind.startsWith("alternate") || l % 2 === 0;
    let previous = Array(blocks.length).fill(0);
    for (let k = 0; k <= 400; k++) {
      const counts = spreadMerges(k, blocks, 12, kind, 197);
      assert.equal(counts.reduce((a, b) => a + b, 0), k);
      assert.ok(counts.every((c, i) => c >= previous[i]), `${kind} k=${k}: a merge moved`);
      assert.ok(counts.every((c, i) => merges(blocks[i]) || c === 0), `${kind} k=${k}: ${counts}`);
      const active = counts.filter((_, i) => merges(blocks[i]));
      assert.ok(active.every((c, i) => i === 0 || c <= active[i - 1]), `${kind} k=${k}: ${counts}`);
      previous = counts;
    }
  }
});

Deno.test("schedules: the linear and quadratic families merge most in the first blocks", () => {
  for (const kind of ["linear", "quadratic"] as const) {
    const schedule = scheduleForReduction(deit, METHODS.tome, 0.65, { kind });
    assert.ok(Math.abs(reductionOf(deit, METHODS.tome, schedule) - 0.65) < 0.005, `${schedule}`);
    assert.ok(schedule.every((r, l) => l === 0 || r <= schedule[l - 1]), `${kind}: ${schedule}`);
    assert.ok(schedule[0] > 2 * schedule[9], `${kind}: ${schedule}`);
  }
  // The even spread at the same cost leaves the last blocks almost no tokens.
  const even = tokensPerBlock(deit, METHODS.tome, scheduleForReduction(deit, METHODS.tome, 0.65));
  const ramp = tokensPerBlock(
    deit,
    METHODS.tome,
    scheduleForReduction(deit, METHODS.tome, 0.65, { kind: "linear" }),
  );
  assert.ok(ramp[11] > 2 * even[11], `${ramp} vs ${even}`);
});
