// Configuration: read from the environment once, validated by this schema (the type is derived
// from it), and handed down as one object. Nothing else reads process.env.
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository (or installed package) root: the bundled models live under it. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const Int = (def: number, min: number, max: number, description: string) => Type.Integer({ default: def, minimum: min, maximum: max, description });

export const ConfigSchema = Type.Object({
  HOST: Type.String({ default: '0.0.0.0', description: 'Address the gateway listens on' }),
  PORT: Int(8080, 0, 65535, 'Port the gateway listens on'),
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info' },
  ),
  REDIS_URL: Type.Optional(Type.String({ description: 'Redis for the distributed mode (BullMQ); without it jobs run in-process' })),
  QUEUE_NAME: Type.String({ default: 'saliency', description: 'BullMQ queue name' }),
  KEY_PREFIX: Type.String({ default: 'saliency', description: 'Prefix of every Redis key (inputs, results, BullMQ)' }),
  MODELS_DIR: Type.String({
    default: join(PACKAGE_ROOT, 'models'),
    description: 'Directory of models: one folder per model with model.onnx and manifest.json',
  }),
  CACHE_DIR: Type.String({ default: join(PACKAGE_ROOT, '.cache', 'compiled'), description: 'Compiled-graph cache (by model hash and compiler version)' }),
  WORKER_CONCURRENCY: Int(1, 1, 64, 'Jobs one worker process (or the embedded queue) runs at once'),
  EXECUTION_PROVIDER: Type.Union([Type.Literal('cpu'), Type.Literal('cuda')], { default: 'cpu' }),
  CUDA_DEVICE_ID: Int(0, 0, 64, 'GPU used by the CUDA execution provider'),
  CUDA_PRECISION: Type.Union([Type.Literal('model'), Type.Literal('float32')], {
    default: 'model',
    description:
      "What a float16 model computes in on the CUDA provider: 'model' its own float16 (forward and backward pass; the methods' sums stay float32), 'float32' float32 as on the CPU",
  }),
  ORT_THREADS: Int(0, 0, 256, 'Intra-op threads per ONNX Runtime session (0: one per core)'),
  ORT_SPIN: Type.Optional(
    Type.Boolean({
      description:
        'ONNX Runtime threads spin between the kernels of a run (faster alone, wasteful when runs share the cores); default: on when WORKER_CONCURRENCY is 1',
    }),
  ),
  MEMORY_BUDGET_MB: Int(1024, 16, 1 << 20, 'Activation memory for one graph run; methods cut their samples into runs under it'),
  WORKER_MEMORY_MB: Int(
    8192,
    0,
    1 << 22,
    'Memory the models and sessions of one worker thread or process may hold (weights once per model, plus per session its own copies and MEMORY_BUDGET_MB of activations); the least recently used are closed beyond it; 0: no limit',
  ),
  WARMUP_METHODS: Type.String({
    default: 'gradient,smoothgrad',
    description: 'Comma-separated methods each worker compiles and runs once per model before it reports ready (empty: none)',
  }),
  INPUT_TTL_SECONDS: Int(3600, 10, 30 * 86400, 'How long uploaded inputs are kept'),
  RESULT_TTL_SECONDS: Int(86400, 10, 30 * 86400, 'How long results are kept'),
  EMBEDDED_RESULT_CAP: Int(256, 1, 100000, 'Most jobs the embedded queue keeps in memory (oldest finished dropped first)'),
  MAX_UPLOAD_BYTES: Int(20 * 1024 * 1024, 1024, 1 << 30, 'Largest accepted upload'),
  MAX_IMAGE_PIXELS: Int(40_000_000, 1, 1 << 30, 'Largest decoded image (width × height), against decompression bombs'),
  MAX_FILES: Int(8, 1, 256, 'Most images in one request'),
  MAX_SAMPLES: Int(1000, 1, 100000, 'Largest `samples` a job may ask for'),
  MAX_STEPS: Int(1000, 1, 100000, 'Largest `steps` a job may ask for'),
  MAX_QUEUE_DEPTH: Int(1000, 1, 1_000_000, 'Waiting jobs beyond which submissions get 503 with Retry-After'),
  JOB_ATTEMPTS: Int(3, 1, 20, 'Attempts per job (a worker killed mid-job counts as one)'),
  JOB_LOCK_MS: Int(30000, 1000, 3_600_000, 'BullMQ lock per running job; a worker that stops renewing it (killed) loses the job after this'),
  STALLED_INTERVAL_MS: Int(30000, 1000, 3_600_000, 'How often workers look for stalled jobs of dead workers'),
  API_KEYS: Type.String({ default: '', description: 'Comma-separated API keys; empty disables authentication' }),
  RATE_LIMIT_PER_MINUTE: Int(600, 0, 1_000_000, 'Requests per minute per client (API key or address); 0 disables'),
  CORS_ORIGINS: Type.String({
    default: '',
    description: 'Comma-separated origins a browser app may call the API from (e.g. https://dash.example.com), or * for any; empty: no CORS',
  }),
  RESULT_CACHE: Type.Boolean({
    default: true,
    description: 'Answer an exact repeat of a submission (same model, input bytes, method, parameters with seed, target) with the earlier job, marked cached',
  }),
  WEBHOOK_SECRET: Type.String({
    default: '',
    description: "Standard Webhooks signing secret ('whsec_' + base64); with WEBHOOK_ALLOWED_HOSTS enables the `webhook` field",
  }),
  WEBHOOK_ALLOWED_HOSTS: Type.String({
    default: '',
    description: 'Comma-separated hosts (host or host:port) webhooks may be sent to; nothing else is ever called',
  }),
  WEBHOOK_MAX_ATTEMPTS: Int(6, 1, 20, 'Delivery attempts per webhook (exponential backoff with jitter between them)'),
  WEBHOOK_RETRY_BASE_MS: Int(2000, 10, 600_000, 'Delay before the first retry of a webhook; doubles each time'),
  API_KEY_WEBHOOKS: Type.String({
    default: '',
    description: "Comma-separated '<sha256 of an API key, hex>=<url>': the webhook of that key's jobs when a submission names none",
  }),
  IDEMPOTENCY_TTL_SECONDS: Int(86400, 60, 30 * 86400, 'How long the answer to a POST with an Idempotency-Key is kept for retries with the same key'),
  SSE_HEARTBEAT_SECONDS: Int(15, 1, 300, 'Interval of the comment lines that keep an idle event stream open through proxies'),
  SHUTDOWN_TIMEOUT_MS: Int(30000, 0, 600000, 'How long SIGTERM waits for in-flight jobs'),
  TRUST_PROXY: Type.String({
    default: '',
    description:
      'Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (rate limits by address); empty: the socket address',
  }),
  RATE_LIMIT_CLIENTS: Int(10000, 100, 10_000_000, 'Clients the in-process rate limiter remembers (LRU); with Redis the counters live there'),
  MAX_JOB_POINTS: Int(
    20000,
    1,
    1_000_000_000,
    'Most graph points one job may cost: images × samples × steps (IG steps, SmoothGrad samples × base steps, SmoothDiff samples + 1)',
  ),
  MAX_JOB_PIXELS: Type.Integer({
    default: 2_000_000_000,
    minimum: 1,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'Most pixel evaluations one job may cost: graph points × model input pixels (H × W)',
  }),
  JOB_TIMEOUT_SECONDS: Int(
    900,
    0,
    7 * 86400,
    'Wall-clock limit of one job attempt on a worker (read by the workers); the job fails with SALIENCY_JOB_TIMEOUT at its next graph run; 0: none',
  ),
  RENDER_THREADS: Int(2, 1, 64, 'Worker threads that render heatmaps and overlays off the event loop'),
  MAX_RENDER_PIXELS: Int(
    8_000_000,
    1024,
    1 << 30,
    "Largest rendered PNG (width × height); size 'original' renderings of bigger images are downscaled to fit, keeping the aspect ratio",
  ),
  RENDER_CACHE_MB: Int(64, 0, 1 << 20, 'Rendered PNGs kept per gateway process (least recently used dropped first); 0: no cache'),
  REQUEST_TIMEOUT_MS: Int(120_000, 1000, 3_600_000, 'Longest time to receive one whole request (uploads included); slower ones get 408'),
  EMBEDDED_STORE_MB: Int(
    512,
    1,
    1 << 20,
    'Embedded mode: memory for inputs and results; when it is full of accepted jobs, submissions get 503 with Retry-After',
  ),
  METRICS_TOKEN: Type.String({ default: '', description: 'When set, /metrics (gateway and workers) needs Authorization: Bearer <token>' }),
  WORKER_METRICS_PORT: Int(0, 0, 65535, 'Port on which a worker process serves /metrics; 0: none'),
  WORKER_HEARTBEAT_FILE: Type.String({
    default: join(tmpdir(), 'saliency-worker.heartbeat'),
    description: 'File a worker process rewrites while connected to Redis; `saliency worker --health` checks its age',
  }),
});

export type Config = Static<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the configuration from an environment (process.env by default), with defaults filled in. */
export function loadConfig(env: Record<string, string | undefined> = process.env, overrides: Partial<Config> = {}): Config {
  const keys = Object.keys(ConfigSchema.properties) as (keyof Config)[];
  const raw: Record<string, unknown> = {};
  for (const key of keys) if (env[key] !== undefined && env[key] !== '') raw[key] = env[key];
  Object.assign(raw, overrides);
  const value = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw));
  const errors = [...Value.Errors(ConfigSchema, value)];
  if (errors.length > 0) {
    const list = errors.map((e) => `${e.path.slice(1)}: ${e.message} (got ${JSON.stringify(e.value)})`).join('; ');
    throw new ConfigError(`invalid configuration: ${list}`);
  }
  return value as Config;
}

/** Whether ONNX Runtime's threads spin between kernels: as configured, else only when runs do not share the cores. */
export function ortSpin(config: Config): boolean {
  return config.ORT_SPIN ?? config.WORKER_CONCURRENCY === 1;
}

/** Fastify's trustProxy: false, or the listed proxy addresses / CIDRs. */
export function trustedProxies(config: Config): false | string[] {
  const list = config.TRUST_PROXY.split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  return list.length === 0 ? false : list;
}

export function apiKeys(config: Config): string[] {
  return config.API_KEYS.split(',')
    .map((k) => k.trim())
    .filter(Boolean);
}

/** The origins of CORS_ORIGINS, each checked to be an origin (scheme://host[:port]) or '*'. */
export function corsOrigins(config: Config): string[] {
  const origins = config.CORS_ORIGINS.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin || parsed.hostname.includes('*')) {
      throw new ConfigError(
        `invalid configuration: CORS_ORIGINS: '${origin}' is not an origin such as https://dash.example.com (scheme, host and port only, no path or trailing slash)`,
      );
    }
  }
  return origins;
}
