/**
 * The accuracy-cost plot: top-1 against GMACs per method, rendered to SVG by vega-lite.
 * @module
 */
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { EvalRow } from "./evaluate.ts";

/** An SVG of top-1 (%) against GMACs, one line per method, the unmerged model as a point. */
export async function paretoSvg(rows: EvalRow[], title: string): Promise<string> {
  const unmerged = rows.find((r) => r.method === "none");
  const values = rows.flatMap((r) =>
    r.method === "none" ? [] : [{ method: r.method, gmacs: r.gmacs, top1: 100 * r.top1 }]
  );
  // Every method's curve starts at the unmerged point, so the cost of merging is visible.
  if (unmerged) {
    for (const m of new Set(values.map((v) => v.method))) {
      values.push({ method: m, gmacs: unmerged.gmacs, top1: 100 * unmerged.top1 });
    }
  }
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title,
    width: 480,
    height: 320,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "gmacs", type: "quantitative", title: "GMACs / image", scale: { zero: false } },
      y: { field: "top1", type: "quantitative", title: "top-1 (%)", scale: { zero: false } },
      color: { field: "method", type: "nominal" },
      order: { field: "gmacs", type: "quantitative" },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return await view.toSVG();
}

/** An SVG of one or more curves over block index (e.g. class-attention MSE), log-scale y. */
export async function curveSvg(
  series: { name: string; values: number[] }[],
  title: string,
  yTitle: string,
): Promise<string> {
  const values = series.flatMap((s) =>
    s.values.map((v, l) => ({ series: s.name, block: `${l}-${l + 1}`, l, v }))
  );
  const spec: TopLevelSpec = {
    $schema: "https://vega.github.io/schema/vega-lite/v5.json",
    title,
    width: 480,
    height: 280,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "block", type: "ordinal", title: "adjacent blocks", sort: { field: "l" } },
      y: { field: "v", type: "quantitative", title: yTitle, scale: { type: "log" } },
      color: { field: "series", type: "nominal" },
    },
  };
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return await view.toSVG();
}
