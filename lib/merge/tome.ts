/**
 * ToMe: bipartite soft matching with a scheduled `r` (see `bipartite.ts`).
 * @module
 */
import { bipartite } from "./bipartite.ts";
import type { MergeMethod } from "./step.ts";

/** ToMe as a merge method. */
export const tome: MergeMethod = {
  name: "tome",
  plan: (ctx) => {
    const { assign, count } = bipartite(ctx);
    return { assign, count };
  },
  nextCount: (n, r, prefix) => n - Math.max(0, Math.min(r, Math.floor((n - prefix) / 2))),
  matchMacs: (n, r, c) => (r > 0 ? Math.ceil(n / 2) * Math.floor(n / 2) * c : 0),
};
