#!/usr/bin/env node
// @ts-check
// Bounded load test of saliency-server in its distributed mode (gateway + BullMQ workers on the
// local Redis). Run it after `npm run build` (`npm run load` does both); README.md next to this
// file explains the scenarios and the report.
//
//   Scenario A: submissions a gateway accepts per second (no workers, so nothing is computed).
//   Scenario B: end-to-end jobs/s for `gradient` with 1, then 2, worker processes.
//
// Everything is bounded: every loop has a count or a deadline, the whole run stops itself after
// HARD_CAP_MS, every child process is killed on exit (SIGINT and failures included) and every
// Redis key under this run's prefix (`load-<pid>-<time>`) is removed. Only 127.0.0.1 is used.
// The Markdown report goes to stdout; progress and errors go to stderr.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { cpus, loadavg } from 'node:os';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'bin', 'saliency.js');
const HARD_CAP_MS = 180_000;
const T0 = Date.now();
const DEADLINE = T0 + HARD_CAP_MS;
const BASE = `load-${process.pid}-${T0}`;
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

// ---------------------------------------------------------------------------------------------
// Flags

const USAGE = `usage: node tools/load/load.mjs [--scenario a|b|all] [--duration S] [--concurrency C] [--jobs M] [--workers 1,2]
  --scenario     a (gateway accept rate), b (end-to-end jobs/s) or all (default)
  --duration     seconds of scenario A (default 10, 1..60)
  --concurrency  parallel HTTP clients in A, and parallel submitters in B (default 16, 1..256)
  --jobs         jobs per worker count in B (default 200, 1..5000)
  --workers      comma-separated worker-process counts for B (default 1,2; each 1..8)
The whole run stops itself after ${HARD_CAP_MS / 1000} s. Environment: REDIS_URL (default redis://127.0.0.1:6379).`;

function fail(message) {
  const error = /** @type {Error & { expected?: boolean }} */ (new Error(message));
  error.expected = true;
  return error;
}

function parseFlags(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        scenario: { type: 'string', default: 'all' },
        duration: { type: 'string', default: '10' },
        concurrency: { type: 'string', default: '16' },
        jobs: { type: 'string', default: '200' },
        workers: { type: 'string', default: '1,2' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw fail(`${err.message}\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const int = (name, min, max) => {
    const raw = values[name];
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) throw fail(`--${name} must be an integer in ${min}..${max} (got '${raw}')\n${USAGE}`);
    return n;
  };
  if (!['a', 'b', 'all'].includes(values.scenario)) throw fail(`--scenario must be a, b or all (got '${values.scenario}')\n${USAGE}`);
  const workers = values.workers.split(',').map((w) => w.trim());
  if (workers.length === 0 || workers.length > 4 || workers.some((w) => !/^\d+$/.test(w) || Number(w) < 1 || Number(w) > 8)) {
    throw fail(`--workers must be 1 to 4 comma-separated counts in 1..8 (got '${values.workers}')\n${USAGE}`);
  }
  return {
    scenario: values.scenario,
    durationS: int('duration', 1, 60),
    concurrency: int('concurrency', 1, 256),
    jobs: int('jobs', 1, 5000),
    workers: workers.map(Number),
  };
}

// ---------------------------------------------------------------------------------------------
// Small utilities

const log = (message) => process.stderr.write(`[load +${((Date.now() - T0) / 1000).toFixed(1)}s] ${message}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const remainingMs = () => DEADLINE - Date.now();

function assertTime(what, needMs = 0) {
  if (remainingMs() < needMs) throw fail(`not enough time left under the ${HARD_CAP_MS / 1000} s cap for ${what}; use smaller --duration/--jobs/--workers`);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(fail(`${what} timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolvePort(port));
    });
  });
}

/** CPU seconds (user + system, all threads) of a process, from /proc; undefined off Linux. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine (all processes), from /proc/stat; undefined off Linux. */
function machineCpuSeconds() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = line;
    return (user + nice + system + irq + softirq + (steal ?? 0)) / 100;
  } catch {
    return undefined;
  }
}

/** Cores used by processes other than ours (machine busy minus what we measured), or undefined. */
function otherCores(machine0, machine1, ours, seconds) {
  if (machine0 === undefined || machine1 === undefined || ours.some((x) => x === undefined || !Number.isFinite(x))) return undefined;
  return Math.max(0, (machine1 - machine0 - ours.reduce((s, x) => s + x, 0)) / seconds);
}

async function redisCpuSeconds(redis) {
  try {
    const info = await withTimeout(redis.info('cpu'), 2000, 'redis INFO');
    const user = Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]);
    const sys = Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
    return Number.isFinite(user + sys) ? user + sys : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on exit.

const children = new Set();

function startProcess(command, env, label) {
  const child = spawn(process.execPath, [CLI, command], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const record = { child, label, output: '', exited: false, exitInfo: '' };
  const keep = (d) => (record.output = (record.output + d.toString()).slice(-4000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', (code, signal) => {
    record.exited = true;
    record.exitInfo = signal ? `signal ${signal}` : `code ${code}`;
    children.delete(record);
  });
  child.on('error', (err) => {
    record.exited = true;
    record.exitInfo = `spawn error: ${err.message}`;
    children.delete(record);
  });
  children.add(record);
  return record;
}

function assertAlive(records) {
  for (const r of records) {
    if (r.exited) throw fail(`${r.label} (pid ${r.child.pid}) exited unexpectedly (${r.exitInfo}); its last output:\n${r.output.trim()}`);
  }
}

/** SIGTERM, then SIGKILL for whatever is still running after `graceMs`. */
async function stopProcesses(records, graceMs = 3000) {
  const running = [...records].filter((r) => !r.exited);
  if (running.length === 0) return;
  const exits = running.map((r) => new Promise((/** @type {(value?: unknown) => void} */ res) => (r.exited ? res() : r.child.once('exit', res))));
  for (const r of running) r.child.kill('SIGTERM');
  const all = Promise.all(exits);
  const timedOut = await Promise.race([all.then(() => false), sleep(graceMs).then(() => true)]);
  if (timedOut) {
    for (const r of running) if (!r.exited) r.child.kill('SIGKILL');
    await Promise.race([all, sleep(2000)]);
  }
}

// Last resort: a synchronous SIGKILL of every child when this process exits for any reason.
process.on('exit', () => {
  for (const r of children) if (!r.exited) r.child.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// Redis: connectivity check and key removal (SCAN + UNLINK of this run's prefix only).

let Redis;
let redis;

async function connectRedis() {
  try {
    ({ Redis } = await import('ioredis'));
  } catch (err) {
    throw fail(`cannot load ioredis from node_modules (run npm ci): ${err.message}`);
  }
  const url = new URL(REDIS_URL);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw fail(`REDIS_URL must point at this machine (got host ${url.hostname})`);
  redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null });
  redis.on('error', () => undefined); // reported through the failing command
  try {
    await withTimeout(redis.connect(), 4000, 'connecting to Redis');
    await withTimeout(redis.ping(), 2000, 'Redis PING');
  } catch (err) {
    redis.disconnect();
    redis = undefined;
    throw fail(`Redis at ${REDIS_URL} is not reachable: ${err.message}`);
  }
}

async function removeKeys(prefix) {
  if (!redis || redis.status !== 'ready') return 0;
  let removed = 0;
  for (const pattern of [`${prefix}:*`, `${prefix}-*`]) {
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) removed += await redis.unlink(...found);
      if (++rounds > 100_000) break; // bounded even on a huge keyspace
    } while (cursor !== '0');
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// Model folder and input image

function pickModelsDir() {
  const bundled = join(ROOT, 'models');
  const hasManifest = (dir) => {
    try {
      if (existsSync(join(dir, 'manifest.json'))) return true;
      return readdirSync(dir, { withFileTypes: true }).some((e) => e.isDirectory() && existsSync(join(dir, e.name, 'manifest.json')));
    } catch {
      return false;
    }
  };
  if (hasManifest(bundled)) return { dir: bundled, label: 'models/ (bundled)' };
  const fixture = join(ROOT, 'test', 'fixtures', 'service-models');
  if (hasManifest(fixture)) return { dir: fixture, label: 'test/fixtures/service-models (tiny 32×32 fixture)' };
  throw fail('no model found: neither models/ nor test/fixtures/service-models has a manifest.json');
}

async function pickImage() {
  const samples = join(ROOT, 'models', 'demo', 'samples');
  if (existsSync(samples)) {
    const png = readdirSync(samples)
      .filter((f) => f.toLowerCase().endsWith('.png'))
      .sort()[0];
    if (png) return { bytes: readFileSync(join(samples, png)), label: `models/demo/samples/${png}`, name: png };
  }
  let sharp;
  try {
    sharp = (await import('sharp')).default;
  } catch (err) {
    throw fail(`cannot load sharp from node_modules to generate the input image: ${err.message}`);
  }
  // A photo-like 256×256 image: a bright disc on a gradient, with mild deterministic noise.
  const size = 256;
  const raw = Buffer.alloc(size * size * 3);
  let seed = 12345;
  const noise = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24) % 16;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = (x - 140) ** 2 + (y - 110) ** 2 < 60 ** 2;
      const i = 3 * (y * size + x);
      raw[i] = Math.min(255, (inside ? 230 : 30 + (x >> 1)) + noise());
      raw[i + 1] = Math.min(255, (inside ? 180 : 40 + (y >> 1)) + noise());
      raw[i + 2] = Math.min(255, (inside ? 30 : 90 + ((x + y) >> 3)) + noise());
    }
  }
  const bytes = await sharp(raw, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
  return { bytes, label: 'generated 256×256 PNG', name: 'load.png' };
}

// ---------------------------------------------------------------------------------------------
// Services

function serviceEnv(prefix, port, modelsDir, extra = {}) {
  return {
    REDIS_URL,
    QUEUE_NAME: prefix,
    KEY_PREFIX: prefix,
    MODELS_DIR: modelsDir,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ORT_THREADS: '1',
    WORKER_CONCURRENCY: '1',
    RATE_LIMIT_PER_MINUTE: '0',
    MAX_QUEUE_DEPTH: '100000',
    SHUTDOWN_TIMEOUT_MS: '3000',
    API_KEYS: '',
    ...extra,
  };
}

async function getJson(url, timeoutMs = 5000) {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let body;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body };
}

/** Polls `path` until `ok(status, body)` holds, within `timeoutMs`; fails early when a process dies. */
async function waitForEndpoint(url, path, ok, timeoutMs, records) {
  const end = Math.min(Date.now() + timeoutMs, DEADLINE);
  let last = 'no answer';
  while (Date.now() < end) {
    assertAlive(records);
    try {
      const { status, body } = await getJson(`${url}${path}`, 1000);
      if (ok(status, body)) return body;
      last = `${status} ${JSON.stringify(body)}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(200);
  }
  throw fail(`${url}${path} not ready within ${timeoutMs} ms (last: ${last})`);
}

function submitForm(image, fields) {
  const body = new FormData();
  for (const [k, v] of Object.entries(fields)) body.append(k, v);
  body.append('image', new Blob([image.bytes], { type: 'image/png' }), image.name);
  return body;
}

async function chooseModel(url) {
  const { status, body } = await getJson(`${url}/v1/models`);
  if (status !== 200 || !Array.isArray(body.models) || body.models.length === 0) throw fail(`GET /v1/models answered ${status}: ${JSON.stringify(body)}`);
  const model = body.models.find((m) => m.id === 'demo') ?? body.models[0];
  return { id: model.id, size: model.input?.size };
}

// ---------------------------------------------------------------------------------------------
// Scenario A: gateway accept rate (no workers; every submission stays queued).

async function scenarioA(opts, modelsDir, image) {
  const prefix = `${BASE}-a`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  assertTime('scenario A', opts.durationS * 1000 + 15_000);
  const gateway = startProcess('serve', serviceEnv(prefix, port, modelsDir), 'gateway (A)');
  try {
    await waitForEndpoint(url, '/healthz', (s) => s === 200, 30_000, [gateway]);
    const model = await chooseModel(url);
    const fields = { method: 'gradient', model: model.id };

    // A short warm-up (JIT, connections), not counted.
    for (let i = 0; i < 5; i++) {
      const r = await fetch(`${url}/v1/explanations`, { method: 'POST', body: submitForm(image, fields), signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      if (r.status !== 202) throw fail(`warm-up submission answered ${r.status}: ${text.slice(0, 500)}`);
    }

    log(`scenario A: ${opts.concurrency} clients for ${opts.durationS} s against ${url}`);
    const latencies = [];
    const statuses = new Map();
    const errors = new Map();
    const gatewayCpu0 = cpuSeconds(gateway.child.pid);
    const selfCpu0 = process.cpuUsage();
    const redisCpu0 = await redisCpuSeconds(redis);
    const machine0 = machineCpuSeconds();
    const start = performance.now();
    const stopAt = start + opts.durationS * 1000;
    const client = async () => {
      // Bounded by time, and by count as a second guard.
      for (let n = 0; n < 1_000_000 && performance.now() < stopAt; n++) {
        const t = performance.now();
        try {
          const r = await fetch(`${url}/v1/explanations`, { method: 'POST', body: submitForm(image, fields), signal: AbortSignal.timeout(15_000) });
          await r.arrayBuffer();
          const ms = performance.now() - t;
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 202) latencies.push(ms);
        } catch (err) {
          const key = err.name === 'TimeoutError' ? 'timeout' : (err.cause?.code ?? err.message);
          errors.set(key, (errors.get(key) ?? 0) + 1);
          if (gateway.exited) return;
          await sleep(50);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, client));
    const elapsedS = (performance.now() - start) / 1000;
    const gatewayCpu1 = cpuSeconds(gateway.child.pid);
    const selfCpu = process.cpuUsage(selfCpu0);
    const machine1 = machineCpuSeconds();
    const redisCpu1 = await redisCpuSeconds(redis);
    assertAlive([gateway]);

    latencies.sort((a, b) => a - b);
    const accepted = latencies.length;
    const other = [...statuses].filter(([s]) => s !== 202).map(([s, n]) => `${s}×${n}`);
    const errs = [...errors].map(([e, n]) => `${e}×${n}`);
    return {
      model: model.id,
      concurrency: opts.concurrency,
      elapsedS,
      accepted,
      perSecond: accepted / elapsedS,
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1],
      other: other.length > 0 ? other.join(', ') : 'none',
      errors: errs.length > 0 ? errs.join(', ') : 'none',
      gatewayCores: gatewayCpu0 !== undefined && gatewayCpu1 !== undefined ? (gatewayCpu1 - gatewayCpu0) / elapsedS : undefined,
      clientCores: (selfCpu.user + selfCpu.system) / 1e6 / elapsedS,
      redisCores: redisCpu0 !== undefined && redisCpu1 !== undefined ? (redisCpu1 - redisCpu0) / elapsedS : undefined,
      otherCores: otherCores(
        machine0,
        machine1,
        [(gatewayCpu1 ?? NaN) - (gatewayCpu0 ?? NaN), (selfCpu.user + selfCpu.system) / 1e6, (redisCpu1 ?? NaN) - (redisCpu0 ?? NaN)],
        elapsedS,
      ),
      failed: accepted === 0 || errors.size > 0 || other.length > 0,
    };
  } finally {
    await stopProcesses([gateway]);
    const removed = await removeKeys(prefix).catch((err) => (log(`key removal failed: ${err.message}`), 0));
    log(`scenario A: processes stopped, ${removed} Redis keys removed`);
  }
}

// ---------------------------------------------------------------------------------------------
// Scenario B: end-to-end jobs/s with N worker processes.

async function submitOne(url, image, fields) {
  const t = Date.now();
  const r = await fetch(`${url}/v1/explanations`, { method: 'POST', body: submitForm(image, fields), signal: AbortSignal.timeout(15_000) });
  const text = await r.text();
  if (r.status !== 202) throw fail(`submission answered ${r.status}: ${text.slice(0, 500)}`);
  const id = JSON.parse(text).explanations?.[0]?.id;
  if (typeof id !== 'string') throw fail(`submission answered without an id: ${text.slice(0, 500)}`);
  return { id, clientSubmit: t };
}

/**
 * Watches jobs until all are final or `untilMs` (epoch) passes. Jobs finish about in submission
 * order, so each round asks only for the oldest `window` unfinished ones (cheap for the gateway,
 * which shares the CPU with the workers); the timings come from the server, so the polling
 * cadence does not affect them.
 */
async function watchJobs(url, jobs, untilMs, window, records) {
  const pending = [...jobs];
  for (let round = 0; pending.length > 0 && round < 1_000_000; round++) {
    if (Date.now() > untilMs) break;
    assertAlive(records);
    const batch = pending.slice(0, window);
    await Promise.all(
      batch.map(async (job) => {
        try {
          const { status, body } = await getJson(`${url}/v1/explanations/${job.id}`, 5000);
          if (status !== 200) return;
          if (body.status === 'completed' || body.status === 'failed' || body.status === 'cancelled') {
            job.observedAt = Date.now();
            job.state = body.status;
            job.timings = body.timings;
            job.attempts = body.attempts;
            if (body.status !== 'completed') job.error = body.error;
          }
        } catch {
          // retried next round
        }
      }),
    );
    for (let i = pending.length - 1; i >= 0; i--) if (pending[i].state) pending.splice(i, 1);
    if (pending.length > 0) await sleep(25);
  }
  return pending.length;
}

function serverTimes(job) {
  const submitted = Date.parse(job.timings?.submittedAt ?? '');
  const queued = job.timings?.queuedMs;
  const total = job.timings?.totalMs;
  if (!Number.isFinite(submitted) || !Number.isFinite(queued) || !Number.isFinite(total)) return undefined;
  return { submitted, started: submitted + queued, finished: submitted + queued + total, queuedMs: queued, computeMs: job.timings.computeMs, totalMs: total };
}

async function scenarioB(opts, modelsDir, image, workers, budgetMs) {
  const prefix = `${BASE}-b${workers}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const runEnd = Math.min(Date.now() + budgetMs, DEADLINE - 8000);
  const env = serviceEnv(prefix, port, modelsDir);
  const gateway = startProcess('serve', env, `gateway (B, ${workers} worker(s))`);
  const workerProcs = Array.from({ length: workers }, (_, i) => startProcess('worker', env, `worker ${i + 1}/${workers}`));
  const all = [gateway, ...workerProcs];
  try {
    const ready = await waitForEndpoint(
      url,
      '/readyz',
      (s, b) => s === 200 && b.workers >= workers,
      Math.max(1000, Math.min(40_000, runEnd - Date.now())),
      all,
    );
    const model = await chooseModel(url);
    const fields = { method: 'gradient', model: model.id };
    log(`scenario B (${workers} worker(s)): ready (${ready.workers} worker connection(s)); warming up`);

    // Warm-up: enough jobs that every worker thread loads the model and its gradient graph.
    const warmStart = Date.now();
    const warm = await Promise.all(Array.from({ length: 3 * workers }, () => submitOne(url, image, fields)));
    const warmLeft = await watchJobs(url, warm, Math.min(runEnd, Date.now() + 60_000), warm.length, all);
    if (warmLeft > 0) throw fail(`warm-up: ${warmLeft} of ${warm.length} jobs not finished in time`);
    const warmFailed = warm.filter((j) => j.state !== 'completed');
    if (warmFailed.length > 0) throw fail(`warm-up job ${warmFailed[0].id} ${warmFailed[0].state}: ${JSON.stringify(warmFailed[0].error)}`);
    const warmS = (Date.now() - warmStart) / 1000;

    log(`scenario B (${workers} worker(s)): submitting ${opts.jobs} jobs with ${opts.concurrency} submitters`);
    const workerCpu0 = workerProcs.map((w) => cpuSeconds(w.child.pid));
    const gatewayCpu0 = cpuSeconds(gateway.child.pid);
    const redisCpu0 = await redisCpuSeconds(redis);
    const selfCpu0 = process.cpuUsage();
    const machine0 = machineCpuSeconds();
    const jobs = new Array(opts.jobs);
    let next = 0;
    const firstSubmit = Date.now();
    const submitter = async () => {
      while (next < opts.jobs) {
        if (Date.now() > runEnd) throw fail(`submissions not finished within the time budget (${next} of ${opts.jobs} sent)`);
        const i = next++;
        jobs[i] = await submitOne(url, image, fields);
      }
    };
    // Watch while submitting: the watcher starts on whatever has been submitted so far.
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.jobs) }, submitter));
    const lastSubmit = Date.now();
    const left = await watchJobs(url, jobs, runEnd, Math.max(16, 4 * workers), all);
    const wallEnd = Date.now();
    const workerCpu1 = workerProcs.map((w) => cpuSeconds(w.child.pid));
    const gatewayCpu1 = cpuSeconds(gateway.child.pid);
    const machine1 = machineCpuSeconds();
    const selfCpu = process.cpuUsage(selfCpu0);
    const redisCpu1 = await redisCpuSeconds(redis);

    const done = jobs.filter((j) => j.state);
    const completed = done.filter((j) => j.state === 'completed');
    const failed = done.filter((j) => j.state !== 'completed');
    const times = completed.flatMap((j) => serverTimes(j) ?? []);
    const lastFinish = times.length > 0 ? Math.max(...times.map((t) => t.finished)) : NaN;
    const lastObserved = done.length > 0 ? Math.max(...done.map((j) => j.observedAt)) : NaN;
    const spanS = (lastFinish - firstSubmit) / 1000;
    const e2e = completed
      .map((j) => {
        const t = serverTimes(j);
        return t ? t.finished - j.clientSubmit : NaN;
      })
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const queued = times.map((t) => t.queuedMs).sort((a, b) => a - b);
    const compute = times
      .map((t) => t.computeMs)
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const total = times.map((t) => t.totalMs).sort((a, b) => a - b);
    const observedE2e = completed.map((j) => j.observedAt - j.clientSubmit).sort((a, b) => a - b);
    const spanForCpu = (wallEnd - firstSubmit) / 1000;
    const workerCores =
      workerCpu0.every((c) => c !== undefined) && workerCpu1.every((c) => c !== undefined)
        ? workerCpu1.map((c, i) => (c - workerCpu0[i]) / spanForCpu)
        : undefined;
    const retried = completed.filter((j) => (j.attempts ?? 1) > 1).length;
    return {
      workers,
      model: model.id,
      jobs: opts.jobs,
      completed: completed.length,
      failed: failed.length,
      unfinished: left,
      firstError: failed[0] ? `${failed[0].state}: ${JSON.stringify(failed[0].error)}` : undefined,
      retried,
      warmS,
      submitS: (lastSubmit - firstSubmit) / 1000,
      spanS,
      jobsPerS: completed.length / spanS,
      observedSpanS: (lastObserved - firstSubmit) / 1000,
      e2eP50: percentile(e2e, 50),
      e2eP90: percentile(e2e, 90),
      e2eMax: e2e[e2e.length - 1],
      observedP50: percentile(observedE2e, 50),
      queuedP50: percentile(queued, 50),
      computeP50: percentile(compute, 50),
      totalP50: percentile(total, 50),
      workerCores,
      gatewayCores: gatewayCpu0 !== undefined && gatewayCpu1 !== undefined ? (gatewayCpu1 - gatewayCpu0) / spanForCpu : undefined,
      redisCores: redisCpu0 !== undefined && redisCpu1 !== undefined ? (redisCpu1 - redisCpu0) / spanForCpu : undefined,
      clientCores: (selfCpu.user + selfCpu.system) / 1e6 / spanForCpu,
      otherCores: otherCores(
        machine0,
        machine1,
        [
          ...workerCpu1.map((c, i) => (c ?? NaN) - (workerCpu0[i] ?? NaN)),
          (gatewayCpu1 ?? NaN) - (gatewayCpu0 ?? NaN),
          (redisCpu1 ?? NaN) - (redisCpu0 ?? NaN),
          (selfCpu.user + selfCpu.system) / 1e6,
        ],
        spanForCpu,
      ),
      failedRun: left > 0 || failed.length > 0 || completed.length === 0,
    };
  } finally {
    await stopProcesses(all);
    const removed = await removeKeys(prefix).catch((err) => (log(`key removal failed: ${err.message}`), 0));
    log(`scenario B (${workers} worker(s)): processes stopped, ${removed} Redis keys removed`);
  }
}

// ---------------------------------------------------------------------------------------------
// Report

function report(opts, ctx, a, bs) {
  const lines = [];
  lines.push('# saliency-server load test', '');
  lines.push(`- Date: ${new Date(T0).toISOString()}; Node ${process.version}; ${cpus().length} CPU core(s) (${cpus()[0]?.model ?? 'unknown'})`);
  lines.push(`- Redis: ${REDIS_URL}; key prefix \`${BASE}\` (removed at the end)`);
  lines.push(`- Models: ${ctx.modelsLabel}; model \`${ctx.model ?? '?'}\`; method \`gradient\`; input: ${ctx.imageLabel} (${ctx.imageBytes} bytes)`);
  lines.push(
    `- Command flags: --scenario ${opts.scenario} --duration ${opts.durationS} --concurrency ${opts.concurrency} --jobs ${opts.jobs} --workers ${opts.workers.join(',')}`,
  );
  lines.push(
    `- Load average at start: ${ctx.loadavg}. The load generator, the gateway, the workers and Redis all share this machine; the CPU columns are cores used (CPU seconds / wall seconds); "other processes" is the machine's busy time minus ours — when it is high, the numbers are contended.`,
  );
  lines.push('');
  if (a) {
    lines.push('## A. Gateway accept rate (no workers, RATE_LIMIT_PER_MINUTE=0, MAX_QUEUE_DEPTH=100000)', '');
    lines.push(
      '| clients | duration s | accepted (202) | accepted/s | p50 ms | p90 ms | p99 ms | max ms | other statuses | errors | gateway CPU | Redis CPU | load-gen CPU | other processes CPU |',
    );
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|');
    lines.push(
      `| ${a.concurrency} | ${fmt(a.elapsedS, 1)} | ${a.accepted} | ${fmt(a.perSecond, 1)} | ${fmt(a.p50)} | ${fmt(a.p90)} | ${fmt(a.p99)} | ${fmt(a.max)} | ${a.other} | ${a.errors} | ${fmt(a.gatewayCores, 2)} | ${fmt(a.redisCores, 2)} | ${fmt(a.clientCores, 2)} | ${fmt(a.otherCores, 2)} |`,
    );
    lines.push('');
  }
  if (bs.length > 0) {
    lines.push('## B. End-to-end `gradient` jobs (WORKER_CONCURRENCY=1, ORT_THREADS=1 per worker process)', '');
    lines.push(
      '| workers | jobs | completed | failed | unfinished | jobs/s | span s | e2e p50 ms | e2e p90 ms | e2e max ms | queued p50 ms | compute p50 ms | worker total p50 ms | worker CPU (each) | gateway CPU | Redis CPU | load-gen CPU | other processes CPU |',
    );
    lines.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|');
    for (const b of bs) {
      lines.push(
        `| ${b.workers} | ${b.jobs} | ${b.completed} | ${b.failed} | ${b.unfinished} | ${fmt(b.jobsPerS, 1)} | ${fmt(b.spanS, 2)} | ${fmt(b.e2eP50, 0)} | ${fmt(b.e2eP90, 0)} | ${fmt(b.e2eMax, 0)} | ${fmt(b.queuedP50, 0)} | ${fmt(b.computeP50, 1)} | ${fmt(b.totalP50, 1)} | ${b.workerCores ? b.workerCores.map((c) => fmt(c, 2)).join(' + ') : 'n/a'} | ${fmt(b.gatewayCores, 2)} | ${fmt(b.redisCores, 2)} | ${fmt(b.clientCores, 2)} | ${fmt(b.otherCores, 2)} |`,
      );
    }
    lines.push('');
    if (bs.length >= 2 && bs[0].jobsPerS > 0) {
      const base = bs[0];
      lines.push(
        bs
          .slice(1)
          .map((b) => `- ${b.workers} vs ${base.workers} worker(s): ${fmt(b.jobsPerS / base.jobsPerS, 2)}× the jobs/s.`)
          .join('\n'),
      );
    }
    lines.push(
      '- jobs/s = completed / (first submission → last completion), the completion taken from the server timings (submittedAt + queuedMs + totalMs); e2e = client submit → that completion.',
      `- Submission took ${bs.map((b) => `${fmt(b.submitS, 2)} s (${b.workers}w)`).join(', ')}; the last completion seen by polling came ${bs.map((b) => `${fmt(b.observedSpanS, 2)} s (${b.workers}w)`).join(', ')} after the first submission; warm-up (${bs.map((b) => `${3 * b.workers} jobs: ${fmt(b.warmS, 2)} s`).join(', ')}) not counted.`,
    );
    const retried = bs.reduce((s, b) => s + b.retried, 0);
    if (retried > 0) lines.push(`- ${retried} job(s) needed more than one attempt.`);
    for (const b of bs) if (b.firstError) lines.push(`- ${b.workers} worker(s): first failure ${b.firstError}`);
    lines.push('');
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main, with cleanup on every path.

let cleaning;
async function cleanup() {
  cleaning ??= (async () => {
    await stopProcesses(children).catch(() => undefined);
    if (redis) {
      const removed = await withTimeout(removeKeys(BASE), 15_000, 'Redis key removal').catch((err) => (log(`key removal failed: ${err.message}`), 0));
      if (removed > 0) log(`removed ${removed} remaining Redis key(s)`);
      redis.disconnect();
    }
  })();
  return cleaning;
}

async function abort(message, code) {
  process.stderr.write(`load: ${message}\n`);
  await withTimeout(cleanup(), 25_000, 'cleanup').catch(() => undefined);
  process.exit(code);
}

process.once('SIGINT', () => void abort('interrupted (SIGINT); stopping children and removing keys', 130));
process.once('SIGTERM', () => void abort('terminated (SIGTERM); stopping children and removing keys', 143));
setTimeout(() => void abort(`hard cap of ${HARD_CAP_MS / 1000} s reached; stopping`, 1), HARD_CAP_MS).unref();

async function main() {
  const opts = parseFlags(process.argv.slice(2));
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw fail('dist/ is missing: run `npm run build` first (or `npm run load`)');
  await connectRedis();
  const models = pickModelsDir();
  const image = await pickImage();
  const ctx = {
    loadavg: loadavg()
      .map((l) => l.toFixed(2))
      .join(' / '),
    modelsLabel: models.label,
    imageLabel: image.label,
    imageBytes: image.bytes.length,
  };
  log(`models: ${models.label}; image: ${image.label} (${image.bytes.length} bytes); prefix ${BASE}`);

  let a;
  const bs = [];
  if (opts.scenario === 'a' || opts.scenario === 'all') {
    a = await scenarioA(opts, models.dir, image);
    ctx.model = a.model;
  }
  if (opts.scenario === 'b' || opts.scenario === 'all') {
    for (let i = 0; i < opts.workers.length; i++) {
      const left = opts.workers.length - i;
      const budget = Math.floor((remainingMs() - 10_000) / left);
      assertTime(`scenario B with ${opts.workers[i]} worker(s)`, 20_000);
      const b = await scenarioB(opts, models.dir, image, opts.workers[i], budget);
      ctx.model = b.model;
      bs.push(b);
    }
  }
  process.stdout.write(`${report(opts, ctx, a, bs)}\n`);

  const problems = [];
  if (a?.failed) problems.push(`scenario A: accepted ${a.accepted}, other statuses ${a.other}, errors ${a.errors}`);
  for (const b of bs)
    if (b.failedRun)
      problems.push(`scenario B (${b.workers} worker(s)): ${b.completed} completed, ${b.failed} failed, ${b.unfinished} unfinished within the time budget`);
  return problems;
}

try {
  const problems = await main();
  await cleanup();
  if (problems.length > 0) {
    process.stderr.write(`load: FAILED\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(1);
  }
  log('done');
  process.exit(0);
} catch (err) {
  await abort(err.expected ? err.message : (err.stack ?? String(err)), 1);
}
