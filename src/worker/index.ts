import { fileURLToPath } from 'node:url';

/** The processor module that worker threads load (compiled JS beside this file). */
export const PROCESSOR_FILE = fileURLToPath(new URL('./process-job.js', import.meta.url));
