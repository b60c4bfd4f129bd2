import { HydraError } from '@hydra-ts/tensor';

/**
 * A request the API cannot serve, sent back as OpenAI's error body
 * `{ error: { message, type, param, code } }` with `status`.
 */
export class RequestError extends HydraError {
  constructor(
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = 'invalid_value',
    readonly status = 400,
    readonly type = 'invalid_request_error',
  ) {
    super(message);
  }
}

/** Every place in the queue is taken: sent back as 429 with Retry-After. */
export class QueueFullError extends HydraError {
  constructor(
    readonly waiting: number,
    /** Seconds until a place is likely to be free. */
    readonly retryAfterSeconds: number,
  ) {
    super(`the server is busy: ${waiting} requests are already waiting; retry in ${retryAfterSeconds} s`);
  }
}

/** A queued request whose client went away before its turn. */
export class AbortedError extends HydraError {}
