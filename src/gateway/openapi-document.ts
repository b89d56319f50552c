// The API document without a running server: the app is built with an empty registry and the
// embedded backend (which starts nothing until a job arrives), and asked for /openapi.json.
import { loadConfig } from '../config/config.js';
import { createJobsBackend } from '../jobs/index.js';
import { ModelRegistry } from '../models/registry.js';
import { PROCESSOR_FILE } from '../worker/index.js';
import { buildApp } from './app.js';

export async function generateOpenapi(): Promise<string> {
  // No warm-up: the backend must start nothing.
  const config = loadConfig({}, { WARMUP_METHODS: '' });
  const backend = createJobsBackend(config, { processorFile: PROCESSOR_FILE });
  const app = await buildApp({ config, registry: ModelRegistry.of([]), queue: backend.queue, store: backend.store, mode: backend.mode });
  try {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    return `${JSON.stringify(JSON.parse(response.body), null, 2)}\n`;
  } finally {
    await app.close();
    await backend.close();
  }
}
