/**
 * Labelled image folders (`labels.csv` with `file,label`), loaded as model inputs.
 * @module
 */
import { UserError } from "../errors.ts";
import { join } from "node:path";
import type { Classifier } from "../runtime/classifier.ts";
import type { OnProgress } from "../progress.ts";

/** A labelled image folder, decoded and preprocessed. */
export interface Dataset {
  dir: string;
  files: string[];
  labels: number[];
  inputs: Float32Array[];
}

/** A `labels.csv` is missing or malformed; the message names the line. */
export class DatasetError extends UserError {
  override name = "DatasetError";
}

/** Reads `labels.csv` of `dir` (header `file,label`). */
export async function readLabelsCsv(dir: string): Promise<{ files: string[]; labels: number[] }> {
  const path = join(dir, "labels.csv");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new DatasetError(`${path} not found`);
    throw e;
  }
  const lines = text.trim().split(/\r?\n/);
  if (lines[0]?.replace(/\s/g, "") !== "file,label") {
    throw new DatasetError(`${path}: first line must be "file,label"`);
  }
  const files: string[] = [], labels: number[] = [];
  lines.slice(1).forEach((line, i) => {
    const [file, label] = line.split(",");
    const value = Number(label);
    if (!file || !Number.isInteger(value) || value < 0) {
      throw new DatasetError(`${path}:${i + 2}: expected "file,label", got "${line}"`);
    }
    files.push(file);
    labels.push(value);
  });
  return { files, labels };
}

/** Loads the first `limit` images of `dir` through the classifier's preprocessing. */
export async function loadDataset(
  dir: string,
  classifier: Classifier,
  limit = Infinity,
  onProgress?: OnProgress,
) {
  const { files, labels } = await readLabelsCsv(dir);
  const n = Math.min(limit, files.length);
  const inputs: Float32Array[] = [];
  for (const file of files.slice(0, n)) {
    inputs.push(await classifier.prepare(await Deno.readFile(join(dir, file))));
    onProgress?.("decode", inputs.length, n);
  }
  return { dir, files: files.slice(0, n), labels: labels.slice(0, n), inputs } satisfies Dataset;
}
