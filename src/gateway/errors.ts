// Every error a client can see: a stable code, an HTTP status and a message that says what to do.
// Routes throw `apiError(code, …)`; the one error handler in app.ts turns anything else into a
// 500 that leaks no internals. The catalogue is closed: codes raised by the imaging layer and the
// codes a failed job reports (GET /v1/explanations/:id, state 'failed' or 'cancelled') are listed
// here too, and a test checks that no other SALIENCY_ code appears anywhere in src/.

export const ERRORS = {
  SALIENCY_BAD_REQUEST: { status: 400, message: 'the request is malformed: %s' },
  SALIENCY_VALIDATION: { status: 400, message: 'invalid request: %s' },
  SALIENCY_UNKNOWN_MODEL: { status: 404, message: "unknown model '%s'; GET /v1/models lists the installed models" },
  SALIENCY_MODEL_UNSUPPORTED: { status: 409, message: "model '%s' cannot be explained: %s" },
  SALIENCY_MODEL_INVALID: { status: 409, message: "model '%s' is broken on the server: %s" },
  SALIENCY_BAD_TARGET: { status: 400, message: '%s' },
  SALIENCY_LIMIT_EXCEEDED: { status: 400, message: '%s' },
  SALIENCY_NO_INPUT: { status: 400, message: "send one 'image' file (JPEG, PNG, WebP, GIF, TIFF, AVIF) or one 'tensor' file (.npy float32)" },
  SALIENCY_TOO_MANY_FILES: { status: 413, message: 'at most %s images per request' },
  SALIENCY_PAYLOAD_TOO_LARGE: { status: 413, message: 'the upload exceeds %s bytes' },
  SALIENCY_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'send multipart/form-data or application/json; got %s' },
  SALIENCY_IMAGE_UNREADABLE: { status: 400, message: '%s' },
  SALIENCY_IMAGE_UNSUPPORTED: { status: 415, message: '%s' },
  SALIENCY_IMAGE_TOO_LARGE: { status: 413, message: '%s' },
  SALIENCY_BAD_TENSOR: { status: 400, message: '%s' },
  SALIENCY_BAD_RENDER_PARAM: { status: 400, message: '%s' },
  SALIENCY_NOT_FOUND: { status: 404, message: "no explanation '%s' (it may have expired)" },
  SALIENCY_NOT_READY: { status: 409, message: 'explanation %s is %s; renderings exist once it is completed' },
  SALIENCY_RESULT_EXPIRED: { status: 410, message: 'the stored attribution of %s has expired; submit the image again' },
  SALIENCY_IDEMPOTENCY_KEY_REUSED: { status: 422, message: "Idempotency-Key '%s' was used for a request with another body; send a new key for a new request" },
  SALIENCY_IDEMPOTENCY_IN_FLIGHT: { status: 409, message: "a request with Idempotency-Key '%s' is still being processed; retry when it has been answered" },
  SALIENCY_UNAUTHORIZED: { status: 401, message: 'send a valid API key as Authorization: Bearer <key> or X-API-Key' },
  SALIENCY_RATE_LIMITED: { status: 429, message: 'too many requests; retry after %s s' },
  SALIENCY_QUEUE_FULL: { status: 503, message: 'the queue is full (%s jobs waiting); retry later' },
  SALIENCY_UNAVAILABLE: { status: 503, message: 'the job backend is unavailable; retry later' },
  SALIENCY_RENDER_BUSY: { status: 503, message: 'every renderer is busy; retry in a few seconds' },
  SALIENCY_NO_ROUTE: { status: 404, message: 'no route %s %s; GET /docs lists the API' },
  SALIENCY_NOT_ACCEPTABLE: { status: 406, message: 'this resource is available as %s' },
  SALIENCY_STORE_FULL: { status: 503, message: 'the in-memory store is full with the inputs and results of accepted jobs; retry after %s s' },
  SALIENCY_SHUTTING_DOWN: { status: 503, message: 'this server is shutting down and accepts no new work; retry after %s s (another replica may answer)' },
  SALIENCY_REQUEST_TIMEOUT: { status: 408, message: 'the request was not received completely within %s s; send it again, faster or smaller' },
  SALIENCY_HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are larger than the server accepts; send fewer or shorter headers' },
  SALIENCY_INTERNAL: { status: 500, message: 'internal error; the server log has the details (request id %s)' },
  // A model's manifest is wrong, not the request: the operator has to fix the model folder.
  SALIENCY_BAD_PREPROCESS_SPEC: { status: 500, message: '%s' },

  // Codes of failed jobs (the job's `error.code`; the status is what a client would map it to).
  SALIENCY_INPUT_EXPIRED: { status: 410, message: '%s' },
  SALIENCY_BAD_BASELINE: { status: 400, message: '%s' },
  SALIENCY_BAD_LAYER: { status: 400, message: '%s' },
  SALIENCY_METHOD_UNSUPPORTED: { status: 422, message: '%s' },
  SALIENCY_JOB_FAILED: { status: 500, message: '%s' },
  SALIENCY_JOB_CANCELLED: { status: 409, message: '%s' },
  SALIENCY_WORKER_CRASHED: { status: 500, message: '%s' },
  SALIENCY_JOB_TIMEOUT: { status: 504, message: '%s' },
  SALIENCY_SHUT_DOWN: { status: 503, message: '%s' },
  SALIENCY_NON_FINITE: { status: 422, message: '%s' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: string,
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** An ApiError from the catalogue, its message template filled with `args`. */
export function apiError(code: ErrorCode, args: (string | number)[] = [], headers: Record<string, string> = {}): ApiError {
  const { status, message } = ERRORS[code];
  let i = 0;
  return new ApiError(
    code,
    status,
    message.replace(/%s/g, () => String(args[i++] ?? '')),
    headers,
  );
}

/** For codes raised elsewhere (imaging, workers) that carry their own message. */
export function codedError(code: ErrorCode, message: string): ApiError {
  return new ApiError(code, ERRORS[code].status, message);
}
