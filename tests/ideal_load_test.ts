// bench:ideal-load's preemption rule: a job at its half steps aside only for a waiting job due
// earlier that would miss by waiting, can still make it now, and leaves the paused job its
// cheapest finish.
import assert from "node:assert/strict";
import { shouldYield } from "../bench/ideal_load.ts";

const cheapest = { name: "tome 75%", ms: 40, top1: 0.25 };
const half = 15; // the cheapest plan's second half
const now = 100;

Deno.test("ideal-load: a job yields to an earlier one that would miss by waiting", () => {
  const job = { arrival: 0, deadline: 300 };
  // Waiting for the running job's cheapest half ends at 155 > 150; running now ends at 140.
  assert.equal(shouldYield(cheapest, half, now, job, [{ arrival: 90, deadline: 150 }]), true);
});

Deno.test("ideal-load: no yield when the waiting job can wait, cannot be saved, or is due later", () => {
  const job = { arrival: 0, deadline: 300 };
  // It makes its deadline after the running job's cheapest half (100 + 15 + 40 <= 160).
  assert.equal(shouldYield(cheapest, half, now, job, [{ arrival: 90, deadline: 160 }]), false);
  // It misses even if it runs now (100 + 40 > 130).
  assert.equal(shouldYield(cheapest, half, now, job, [{ arrival: 90, deadline: 130 }]), false);
  // It is due after the running job.
  assert.equal(
    shouldYield(cheapest, half, now, { arrival: 0, deadline: 145 }, [{
      arrival: 90,
      deadline: 150,
    }]),
    false,
  );
  // The running job could no longer finish at its cheapest after it (100 + 40 + 15 > 150).
  assert.equal(
    shouldYield(cheapest, half, now, { arrival: 0, deadline: 152 }, [{
      arrival: 90,
      deadline: 151,
    }]),
    false,
  );
  assert.equal(shouldYield(cheapest, half, now, job, []), false);
});
