/**
 * SHA-256 as lowercase hex: the one digest edgemerge keeps (graph-cache sidecars, priors' image
 * lists, the KV seed's markers; the hub's download check hashes its file in chunks with the same
 * algorithm).
 * @module
 */
import { createHash } from "node:crypto";

/**
 * SHA-256 of `data` (a string as UTF-8), as hex.
 * @example
 * ```ts
 * sha256Hex("abc"); // "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
 * ```
 */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
