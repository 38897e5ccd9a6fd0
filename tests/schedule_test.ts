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
        if (kind === "delayed") assert.deepEqual(schedule.slice(0, 3), [0, 0, 0]);
        if (kind === "alternate") {
          assert.ok(schedule.every((r, l) => l % 2 === 0 || r === 0), `${schedule}`);
        }
      }
    }
  }
});
