/**
 * ToMe: bipartite soft matching with a scheduled `r` (see `bipartite.ts`).
 * @module
 */
import { bipartite, bipartiteMacs, bipartiteMaxR } from "./bipartite.ts";
import type { MergeMethod } from "./step.ts";

/** ToMe as a merge method. */
export const tome: MergeMethod = {
  name: "tome",
  plan: (ctx) => bipartite(ctx),
  maxR: bipartiteMaxR,
  nextCount: (n, r) => n - r,
  matchMacs: bipartiteMacs,
};
