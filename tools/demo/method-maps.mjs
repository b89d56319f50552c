// @ts-check
// Explains a batch of preprocessed images with every method at the service's defaults, through the
// service's own code (the compiled dist/), and writes one raw attribution .npy per method.
// tools/demo/train_demo.py calls it to score where each method's map puts its energy.
//
//   node tools/demo/method-maps.mjs --model-dir models/demo (--input x.npy | --images a.png,b.png)
//        --targets 0,3,… --seed 1 --out DIR [--methods gradient,smoothgrad,smoothgrad:base=grad-cam]
//
// A method is a name with optional `:key=value` parameters (a variant such as SmoothGrad over
// Grad-CAM); the default is every method in METHODS and every variant in VARIANTS. Each is written
// to `<spec>.npy`.
//
// --input is a preprocessed batch [N,3,H,W]; --images are decoded and preprocessed exactly as the
// service does it for an upload (the model's manifest: resize, range, mean/std).
//
// Needs `npm run build` first (it imports dist/).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const repo = resolve(import.meta.dirname, '../..');
const dist = (/** @type {string} */ path) => join(repo, 'dist', path);
if (!existsSync(dist('src/methods/explain.js'))) {
  process.stderr.write('method-maps: dist/ is missing; run `npm run build` first\n');
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    'model-dir': { type: 'string' },
    input: { type: 'string' },
    images: { type: 'string' },
    targets: { type: 'string' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    methods: { type: 'string' },
  },
  strict: true,
});
const modelDir = values['model-dir'];
const { input, images, targets: targetText, out } = values;
if (!modelDir || !(input || images) || !targetText || !out) {
  process.stderr.write('method-maps: --model-dir, --input or --images, --targets and --out are required\n');
  process.exit(2);
}

const { explain } = await import(dist('src/methods/explain.js'));
const { METHODS } = await import(dist('src/methods/params.js'));
const { decodeNpy, encodeNpy } = await import(dist('src/imaging/npy.js'));
const { loadManifest } = await import(dist('src/models/registry.js'));
const { pixelRange } = await import(dist('src/worker/manifest-mapping.js'));
const { openModelContext } = await import(dist('src/runtime/model-context.js'));
const { imageInput } = await import(dist('src/cli/image-input.js'));

const manifest = loadManifest(modelDir);
const x = input ? decodeNpy(readFileSync(input)) : await imageBatch(images ? images.split(',') : []);
const targets = targetText.split(',').map(Number);
const seed = Number(values.seed);
// Methods whose defaults leave a base out: SmoothGrad over Grad-CAM (Smooth Grad-CAM).
const VARIANTS = ['smoothgrad:base=grad-cam'];
/** @type {string[]} */
const methods = values.methods ? values.methods.split(',') : [...METHODS, ...VARIANTS];

// The same context the service's workers build for a manifest: its pixel range sets IG's black and
// white baselines; noise is relative to each image's own value range, as in the service.
const ctx = await openModelContext(join(modelDir, manifest.file), {
  pixelRange: pixelRange(manifest),
  input: manifest.input.name,
  threads: 2,
});
mkdirSync(out, { recursive: true });
try {
  for (const method of methods) {
    const result = await explain(ctx, { x: { data: x.data, dims: x.shape }, params: { ...methodParams(method), seed }, targets });
    const { data, dims } = result.attribution;
    writeFileSync(join(out, `${method}.npy`), encodeNpy({ data, shape: dims }));
    process.stdout.write(`${JSON.stringify({ method, shape: dims, ms: Math.round(result.timings.computeMs) })}\n`);
  }
} finally {
  await ctx.close();
}

/** `name:key=value:…` -> the request's method parameters (values as strings, as a form sends them). */
function methodParams(/** @type {string} */ spec) {
  const [method, ...pairs] = spec.split(':');
  return { method, ...Object.fromEntries(pairs.map((pair) => pair.split('='))) };
}

/** The images preprocessed for the model, stacked into one batch. */
async function imageBatch(/** @type {string[]} */ paths) {
  const tensors = await Promise.all(paths.map((path) => imageInput(path, manifest)));
  const size = tensors[0]?.x.data.length ?? 0;
  const data = new Float32Array(size * tensors.length);
  tensors.forEach((t, i) => data.set(t.x.data, i * size));
  return { data, shape: [tensors.length, ...(tensors[0]?.x.dims.slice(1) ?? [])] };
}
