/**
 * The base of every error a user can cause and fix (bad input, missing files, unavailable
 * backend). CLIs print these as one line; the API maps them to 4xx/5xx JSON. Anything else is
 * a bug and keeps its stack trace.
 * @module
 */
export class UserError extends Error {
  override name = "UserError";
}
