// A stand-in processor for the queue tests (the real one is tested with real models elsewhere).
// payload.model picks the behaviour: 'ok' reads the input blob, reports `steps` progress events
// (`samples` ms apart, checking cancelled() before each), writes the attribution blob (the input
// reversed) and returns a small result; 'input-error' throws a JobInputError; 'fail' throws a
// plain error; 'crash' ends its thread with process.exit.
import { setTimeout as sleep } from 'node:timers/promises';
import { type JobPayload, type JobResult, keys } from '../../src/jobs/contract.js';
import { JobCancelledError, JobInputError, type JobProcessor, type ProcessorIO } from '../../src/jobs/interfaces.js';

export const processJob: JobProcessor = async (payload: JobPayload, io: ProcessorIO): Promise<JobResult> => {
  switch (payload.model) {
    case 'input-error':
      throw new JobInputError('SALIENCY_TEST_BAD_INPUT', 'the test input is bad');
    case 'fail':
      throw new Error('the test processor failed');
    case 'crash':
      process.exit(3);
  }
  const input = (await io.read(payload.input.key)) ?? new Uint8Array();
  const steps = payload.params.steps ?? 3;
  for (let done = 0; done < steps; done++) {
    await sleep(typeof payload.params.samples === 'number' ? payload.params.samples : 20);
    if (io.cancelled()) throw new JobCancelledError('cancelled');
    io.progress({ done: done + 1, total: steps, stage: 'run' });
  }
  await io.write(keys.attribution(payload.id), Uint8Array.from(input).reverse(), 60);
  return {
    prediction: { target: 1, logit: 2, score: 0.5, top5: [{ index: 1, logit: 2, score: 0.5 }] },
    params: { method: payload.params.method, steps },
    attribution: { shape: [input.length], min: 0, max: 1, kind: 'sensitivity' },
    timings: { computeMs: 1, totalMs: 1 },
  };
};
