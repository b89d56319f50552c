// Worker-thread entry of the model checker: opens each model as a worker would (probe, compile)
// and posts one verdict per model, so the gateway's event loop never runs ONNX Runtime.
import { parentPort, workerData } from 'node:worker_threads';
import { type Config } from '../config/config.js';
import { checkModel } from '../models/model-check.js';
import { type ModelEntry } from '../models/registry.js';
import { openEntry } from './model-contexts.js';

export interface CheckThreadData {
  config: Config;
  entries: ModelEntry[];
}

const port = parentPort;
if (!port) throw new Error('model-check-thread.js must run in a worker thread');
const { config, entries } = workerData as CheckThreadData;
for (const entry of entries) {
  const verdict = await checkModel(entry, (e) => openEntry(config, e));
  port.postMessage({ id: entry.id, ...verdict });
}
