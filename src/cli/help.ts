// `saliency --help`, `saliency <command> --help` and `saliency --version`: the text lives here so
// each subcommand's file stays about doing the work.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../config/config.js';
import { METHODS } from '../methods/params.js';
import { METRIC_NAMES } from '../metrics/evaluate.js';

/** A comma-separated list in the help's second column (from character 34), wrapped at 100. */
function column(items: readonly string[], indent = 34, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const item of items.map((m, i) => (i < items.length - 1 ? `${m},` : m))) {
    if (line && indent + line.length + 1 + item.length > width) {
      lines.push(line);
      line = '';
    }
    line = line ? `${line} ${item}` : item;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

export const COMMAND_HELP: Record<string, string> = {
  serve: `usage: saliency serve

The HTTP API and web page (PORT, default 8080). Without REDIS_URL jobs run in worker threads of
this process; with it they go to the queue that \`saliency worker\` processes consume.
Configuration: environment variables, listed in docs/operations.md.
`,
  worker: `usage: saliency worker [--health]

A worker process consuming the queue at REDIS_URL until SIGTERM (in-flight jobs finish or are
handed back); with WARMUP_METHODS it warms its job threads up first. WORKER_METRICS_PORT serves
its Prometheus metrics; it rewrites WORKER_HEARTBEAT_FILE while connected or warming up.

  --health   check the heartbeat of the worker running beside this process: exit 0 when it
             is recent and the warm-up is over, else 1 with the reason on stderr (for
             container healthchecks)
`,
  openapi: `usage: saliency openapi [--output openapi/openapi.json]

Writes the OpenAPI document generated from the routes (stdout without --output).
`,
  compile: `usage: saliency compile --model M.onnx --output G.onnx [--input-shape 3,224,224]

Writes the gradient model: inputs are the model input and 'seed' (the cotangent of the logits),
outputs the logits and grad_<input> = d(sum seed*logits)/d input. One model serves any batch.
  --input-shape   per-sample input shape, for models whose input has no fixed size
`,
  explain: `usage: saliency explain --model M.onnx --input X.npy|photo.jpg --method M[,M…] --output OUT.npy|OUT.png [flags]

Runs a method on a float32 .npy batch (N×C×H×W) or an image (preprocessed with the model's
manifest, found beside the model or given with --manifest) and prints one JSON line: targets,
top-5 logits per sample, timings.
  --method M                      ${column(METHODS)}
                                  (Smooth Grad-CAM: --method smoothgrad --base grad-cam)
  --target 3 | 3,7                class for every sample, or one per sample, by index or by a
                                  label of the manifest's labels file (default: argmax)
  --targets 3,7,tabby | top-3     several classes of one image, as the API's targets: a .npy
                                  output becomes one file per class (OUT-3.npy, OUT-7.npy, …),
                                  a .png output a grid with one panel per class
  --metrics a,b                   quality metrics of every map (${METRIC_NAMES.join(', ')}),
                                  printed in the JSON line as "metrics": one object per map in
                                  the order of "targets" (several --method: keyed by method)
  --flip-steps 32 --imputation zeros|mean
                                  pixel flipping's steps and the value flipped pixels get
  --samples N|auto --max-samples --tolerance --noise --sigma --seed --steps --rule --baseline
  --base --layer --relu --confidence --models --weight-noise --head --preset
                                  the method's parameters (docs/methods.md)
  --threads N                     ONNX Runtime threads
  --reduce --sign --clip --scale --colormap --overlay --size
                                  rendering of .png outputs (docs/methods.md, "Rendering")
  --scaling service|captum|pair|xplique
                                  the service's scaling of .png outputs, or a library visualiser's
                                  (default: the --preset's, else service)
  --method a,b,c                  several methods: a comparison grid with a colour bar (with
                                  --targets: methods down, classes across)
  --sweep-noise 0.05,0.1 --sweep-samples 5,25
                                  a noise × samples grid of one method
`,
  models: `usage: saliency models add PATH.onnx [--name N] [--labels F] [--size H,W] [--models-dir D] [--force]
       saliency models check [--models-dir D]

add     installs a model: infers its manifest (input, layout, size, output, Grad-CAM layer; ImageNet
        normalisation and class names for 1000-class models), compiles it once, self-checks its
        gradient against finite differences, and prints what it found and what to edit
check   compiles and self-checks every installed model, one line each; exit code 1 if any fails
`,
  bench: `usage: saliency bench [gradient|methods|memory|service] [--models a,b] [--batches 1,16] [--repeat 3] [--threads N] [--budget-mb MB]
                      [--torch-blas LIB] [--methods reference,new,metrics|case,…] [--compare true]

Times the gradient graph against the forward pass (gradient) and the methods against PyTorch
(methods; needs Debian's python3-torch). Without a suite, both. memory: RSS and PSS after one job
of each method (default vgg16; --compare true adds weights not shared). service: a gradient job
through \`saliency serve\` in a process of its own against the same explanation in-process.
See docs/performance.md.
  --models a,b      exported reference models (resnet50, vit_b_16), or paths to .onnx files
                    (timed without a PyTorch reference)
  --methods …       bench methods only: which cases to time; groups reference (against PyTorch),
                    new (the CAM family, NoiseGrad, FusionGrad, AdaptGrad: ours only) and metrics
                    (each quality metric's time on top of a gradient job), or single cases by
                    name (gradient, adaptgrad, pixel-flipping, …: an unknown name lists them);
                    default all
`,
};

export const USAGE = `usage: saliency <command> [options]

commands:
  serve      the HTTP API and web page
  worker     a worker process consuming the queue at REDIS_URL
  openapi    write the OpenAPI document
  compile    write the gradient model of an ONNX classifier
  explain    explain a tensor or an image from the command line
  models     install a model (models add) or check the installed ones (models check)
  bench      time the gradient graph and the methods

saliency <command> --help describes a command; saliency --version prints the version.
`;

export function version(): string {
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}
