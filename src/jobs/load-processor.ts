// Loads the processor module inside a worker thread. The processor is given as a file path (like
// BullMQ's sandboxed processors) so that src/jobs never imports the code that runs the models.
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type JobProcessor } from './interfaces.js';

export interface ProcessorModule {
  processJob: JobProcessor;
  /** Optional: releases the thread's resources (ONNX sessions) before the thread ends. */
  closeProcessor?: () => Promise<void>;
  /**
   * Optional: prepares the thread (compiles and runs configured methods) before it reports ready;
   * returns early, between two runs, once `stop` says so.
   */
  warmUp?: (stop?: () => boolean) => Promise<void>;
  /** Optional: checks the installed models on the thread's contexts (asked of one thread: ThreadData.check). */
  checkModels?: () => Promise<unknown>;
}

export async function loadProcessorModule(file: string): Promise<ProcessorModule> {
  const url = isAbsolute(file) ? pathToFileURL(file).href : file;
  const mod = (await import(url)) as Partial<ProcessorModule>;
  if (typeof mod.processJob !== 'function') throw new Error(`processor module ${file} does not export a function processJob`);
  return {
    processJob: mod.processJob,
    ...(typeof mod.closeProcessor === 'function' && { closeProcessor: mod.closeProcessor }),
    ...(typeof mod.warmUp === 'function' && { warmUp: mod.warmUp }),
    ...(typeof mod.checkModels === 'function' && { checkModels: mod.checkModels }),
  };
}
