// One upload limit for every encoding: MAX_UPLOAD_BYTES is what all the files of one request may
// add up to once decoded, whether they come as multipart parts or base64 strings in JSON. Both
// limits act while the body is read (Content-Length first, then the bytes as they stream in),
// before anything is parsed or decoded, so an oversized body never reaches memory whole.
import { type Config } from '../../config/config.js';

/** Form fields and JSON members besides the files: parameters, names, punctuation. */
export const FIELDS_ALLOWANCE = 64 * 1024;

/** JSON bodies: base64 is 4/3 of the bytes it encodes. */
export function jsonBodyLimit(config: Config): number {
  return Math.ceil((config.MAX_UPLOAD_BYTES * 4) / 3) + FIELDS_ALLOWANCE;
}

/** busboy's limits for @fastify/multipart; the total over files is checked as parts arrive (submission.ts). */
export function multipartLimits(config: Config) {
  return {
    fileSize: config.MAX_UPLOAD_BYTES,
    files: config.MAX_FILES + 2, // images, or a tensor, plus a baseline
    fields: 40,
    fieldSize: 4 * 1024,
    parts: config.MAX_FILES + 44,
    headerPairs: 200,
  };
}
