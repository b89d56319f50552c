// `saliency bench service`: what the service adds to one explanation. The service runs as users
// run it, `saliency serve` in a process of its own (embedded queue, worker thread); a `gradient`
// job goes through its HTTP API (a preprocessed .npy tensor, answered when done with
// `Prefer: wait`), alternating with the same explanation in this process; the overhead is the
// median of per-pair differences. The client and the in-process explanation stay out of the
// service's process, so its garbage collector sees only the gateway's own work, and the client
// sends a body encoded once, as curl sends a file.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeNpy } from '../imaging/npy.js';
import { explain } from '../methods/explain.js';
import { openModelContext } from '../runtime/model-context.js';

type Alternate = (times: number, runs: (() => Promise<unknown>)[]) => Promise<number[][]>;

const CLI_FILE = fileURLToPath(new URL('../../../bin/saliency.js', import.meta.url));
/** How long the service may take to warm up and answer /readyz. */
const READY_TIMEOUT_MS = 300_000;

/** A port nobody listens on now (the service binds it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A multipart/form-data body with text fields and one file. */
function multipartBody(fields: Record<string, string>, file: { field: string; name: string; bytes: Uint8Array }): { body: Buffer; contentType: string } {
  const boundary = `----saliency-bench-${process.pid}`;
  const text = Object.entries(fields)
    .map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`)
    .join('');
  const fileHead = `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(text + fileHead), file.bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

interface ServiceProcess {
  url: string;
  stop(): Promise<void>;
}

/** Starts `saliency serve` with `env` and resolves once its /readyz answers 200. */
async function startServiceProcess(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, HOST: '127.0.0.1', PORT: String(port) };
  delete childEnv['REDIS_URL'];
  const child = spawn(process.execPath, [CLI_FILE, 'serve'], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!gone) child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`saliency serve exited before it was ready: ${stderr.trim() || 'no output'}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) return { url, stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`saliency serve was not ready after ${READY_TIMEOUT_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function runServiceBench(
  modelPath: string,
  repeat: number,
  threads: number | undefined,
  alternate: Alternate,
): Promise<{ inProcess: number; api: number; overhead: number; computeInJob: number; aroundCompute: number }> {
  // A models folder with this one model, a manifest for a preprocessed [3,224,224] input.
  const dir = mkdtempSync(join(tmpdir(), 'saliency-bench-service-'));
  const modelDir = join(dir, 'models', 'bench');
  mkdirSync(modelDir, { recursive: true });
  copyFileSync(modelPath, join(modelDir, 'model.onnx'));
  writeFileSync(
    join(modelDir, 'manifest.json'),
    JSON.stringify({
      name: 'bench',
      file: 'model.onnx',
      input: { layout: 'NCHW', size: [224, 224], channels: 3, resize: { mode: 'resize' }, range: [0, 1], mean: [0, 0, 0], std: [1, 1, 1] },
    }),
  );
  let service: ServiceProcess | undefined;
  let ctx: Awaited<ReturnType<typeof openModelContext>> | undefined;
  try {
    service = await startServiceProcess({
      MODELS_DIR: join(dir, 'models'),
      CACHE_DIR: join(dir, 'cache'),
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '0',
      WARMUP_METHODS: 'gradient',
      ...(threads ? { ORT_THREADS: String(threads) } : {}),
    });
    const { url } = service;
    const model = (ctx = await openModelContext(join(modelDir, 'model.onnx'), { threads, inputShape: [3, 224, 224] }));
    const shape = [3, 224, 224];
    const data = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.001));
    const npy = encodeNpy({ data, shape });
    // The request is encoded once, as a client that sends a file (curl -F) would: what undici's
    // FormData encoder costs per request (about 3 ms here) is the client's, not the service's.
    const request = multipartBody({ model: 'bench', method: 'gradient', target: '0' }, { field: 'tensor', name: 'x.npy', bytes: npy });
    const viaApi = async () => {
      const res = await fetch(`${url}/v1/explanations`, {
        method: 'POST',
        body: request.body,
        headers: { 'content-type': request.contentType, prefer: 'wait=60' },
      });
      if (res.status !== 200) throw new Error(`the API answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { explanations: { timings: { computeMs: number; totalMs: number } }[] };
      jobTimes.push(body.explanations[0]?.timings as { computeMs: number; totalMs: number });
    };
    // The job's own timings split the overhead: its explanation in the job thread (computeMs), the
    // job thread's work around it (totalMs − computeMs), and the rest (gateway, hop, client).
    const jobTimes: { computeMs: number; totalMs: number }[] = [];
    const direct = () => explain(model, { x: { data, dims: [1, ...shape] }, params: { method: 'gradient' }, targets: [0] });
    const pairs = await alternate(repeat, [direct, viaApi]);
    const timed = jobTimes.slice(-repeat);
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
    return {
      inProcess: median(pairs.map((p) => p[0] as number)),
      api: median(pairs.map((p) => p[1] as number)),
      overhead: median(pairs.map((p) => (p[1] as number) - (p[0] as number))),
      computeInJob: median(timed.map((t) => t.computeMs)),
      aroundCompute: median(timed.map((t) => t.totalMs - t.computeMs)),
    };
  } finally {
    await ctx?.close();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
