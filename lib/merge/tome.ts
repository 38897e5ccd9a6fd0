/**
 * ToMe: bipartite soft matching with a scheduled `r` (see `bipartite.ts`).
 * @module
 */
import { bipartite, bipartiteMaxR } from "./bipartite.ts";
import type { MergeMethod } from "./step.ts";

/** ToMe as a merge method. */
export const tome: MergeMethod = {
  name: "tome",
  plan: (ctx) => bipartite(ctx),
  maxR: bipartiteMaxR,
  nextCount: (n, r) => n - r,
  matchMacs: (n, r, c) => (r > 0 ? Math.ceil(n / 2) * Math.floor(n / 2) * c : 0),
};
