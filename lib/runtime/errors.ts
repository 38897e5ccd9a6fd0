/**
 * Why an `Inference` could not run a job: a full queue, no worker, or a failure inside a worker
 * (carried across the message boundary by name and code).
 * @module
 */
import { UserError } from "../errors.ts";

/** The queue is full; retry after `retryAfterSeconds`. */
export class QueueFullError extends UserError {
  override name = "QueueFullError";
  constructor(readonly retryAfterSeconds: number) {
    super(`server busy: the queue is full; retry after ${retryAfterSeconds} s`);
  }
}

/** No worker can take the job (shutting down, or the job crashed workers twice). */
export class PoolUnavailableError extends UserError {
  override name = "PoolUnavailableError";
}

/** A job failed inside a worker with a user-facing error (e.g. a corrupt image). */
export class JobError extends UserError {
  constructor(override readonly name: string, message: string, readonly code?: string) {
    super(message);
  }
}
