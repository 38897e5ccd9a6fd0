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

/** No worker can take the job (shutting down, none started). */
export class PoolUnavailableError extends UserError {
  override name = "PoolUnavailableError";
}

/**
 * A job failed inside a worker: with a user-facing error (a corrupt image, a method that cannot
 * run; `user`) or with a fault of the server (a bug, an ORT failure), answered as a generic 500.
 */
export class JobError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly code: string | undefined,
    readonly user: boolean,
  ) {
    super(message);
  }
}

/** The job's client disconnected before a worker took it. */
export class ClientGoneError extends UserError {
  override name = "ClientGoneError";
}

/** The job waited in the queue longer than the queue's patience. */
export class ExpiredError extends UserError {
  override name = "ExpiredError";
  constructor(readonly waitedMs: number) {
    super(`the request waited ${Math.round(waitedMs)} ms in the queue without a worker`);
  }
}

/** A worker hung on the job past the job timeout; it is not retried (it would hang again). */
export class JobTimeoutError extends UserError {
  override name = "JobTimeoutError";
}

/** The job crashed its worker again on retry (its input, most likely). */
export class WorkerFaultError extends Error {
  override name = "WorkerFaultError";
}
