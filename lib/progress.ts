/**
 * The progress callback long jobs take (eval, priors, calibration, downloads). Libraries only
 * report; the command line draws the bar (`lib/cli/progress.ts`).
 *
 * @example
 * ```ts
 * const onProgress: OnProgress = (label, done, total) => console.log(label, done, "/", total);
 * ```
 * @module
 */

/** `done` of `total` steps (or bytes) of the stage `label`; `total` is undefined when unknown. */
export type OnProgress = (label: string, done: number, total: number | undefined) => void;
