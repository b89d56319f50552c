// Entry point of a distributed worker process (docker: node dist/workers/worker.js).
import { runWorker } from '../src/worker/run-worker.js';

await runWorker();
