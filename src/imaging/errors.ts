// Coded errors raised by the imaging layer. The gateway's error catalogue maps each code to an
// HTTP status (suggested in IMAGE_ERROR_STATUS); messages say what the client can do about it.
export const IMAGE_ERROR_CODES = [
  'SALIENCY_IMAGE_UNREADABLE',
  'SALIENCY_IMAGE_UNSUPPORTED',
  'SALIENCY_IMAGE_TOO_LARGE',
  'SALIENCY_BAD_RENDER_PARAM',
  'SALIENCY_BAD_PREPROCESS_SPEC',
] as const;
export type ImageErrorCode = (typeof IMAGE_ERROR_CODES)[number];

/** Suggested HTTP status per code (client errors only; imaging never decides a 5xx). */
export const IMAGE_ERROR_STATUS: Record<ImageErrorCode, number> = {
  SALIENCY_IMAGE_UNREADABLE: 400,
  SALIENCY_IMAGE_UNSUPPORTED: 415,
  SALIENCY_IMAGE_TOO_LARGE: 413,
  SALIENCY_BAD_RENDER_PARAM: 400,
  // A model manifest is wrong, not the request: the gateway should treat this as a server fault.
  SALIENCY_BAD_PREPROCESS_SPEC: 500,
};

export class ImageError extends Error {
  override name = 'ImageError';
  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
