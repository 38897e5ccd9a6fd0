/**
 * The registry of merge methods, by the name used in the CLI, eval and the API.
 * @module
 */
import { UserError } from "../errors.ts";
import { evit } from "./evit.ts";
import { pitome } from "./pitome.ts";
import type { MergeMethod } from "./step.ts";
import { tome } from "./tome.ts";
import { adamerge } from "./adamerge.ts";
import { sadtm, sadtmAda, sadtmDm } from "./sadtm.ts";

/** Every merge method, by name. `none` (the plain ViT) is not a method. */
export const METHODS: Readonly<Record<string, MergeMethod>> = {
  tome,
  evit,
  pitome,
  sadtm,
  "sadtm-dm": sadtmDm,
  adamerge,
  "sadtm-ada": sadtmAda,
};

/** The method a request runs when it asks for merging (a reduction, a schedule) but names none. */
export const DEFAULT_METHOD = "tome";

/** Method names a user may give, `none` included. */
export const METHOD_NAMES: readonly string[] = ["none", ...Object.keys(METHODS)];

/** An unknown method name; the message lists the known ones. */
export class UnknownMethodError extends UserError {
  override name = "UnknownMethodError";
}

/** The method called `name`, `undefined` for `none`; throws `UnknownMethodError`. */
export function methodByName(name: string): MergeMethod | undefined {
  if (name === "none") return undefined;
  const method = METHODS[name];
  if (!method) {
    throw new UnknownMethodError(`unknown method "${name}"; known: ${METHOD_NAMES.join(", ")}`);
  }
  return method;
}
