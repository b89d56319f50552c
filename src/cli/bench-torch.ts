// The PyTorch reference as a long-lived peer of `bench methods`: tools/bench/pytorch_methods.py
// --serve keeps the model loaded and times one request at a time, so our runs and PyTorch's can
// alternate and each ratio compares two runs made under the same load.
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { type Readable, type Writable } from 'node:stream';

/** One timing request: `times` timed runs of a reference method after `warmup` untimed ones. */
export interface TorchRequest {
  /** gradient, integrated-gradients, smoothgrad or smoothdiff-<n>. */
  run: string;
  /** Points per forward/backward pass ('all' or a count); smoothgrad and integrated-gradients only. */
  chunk?: string;
  times?: number;
  warmup?: number;
  /** Reset PyTorch's peak resident memory first, so the answer's peak covers these runs. */
  resetPeak?: boolean;
}

export interface TorchAnswer {
  /** Wall times in ms; null when the model has no reference for the method (SmoothDiff on ViT). */
  ms: number[] | null;
  peakRssMb: number | null;
}

export interface TorchPeerOptions {
  model: string;
  threads: number;
  /** A BLAS library for PyTorch to preload (OpenBLAS: Debian's default netlib BLAS is far slower). */
  blas?: string;
  samples: number;
  steps: number;
  smoothdiffSamples: number[];
}

const INSTALL_HINT = 'it needs apt-get install -y python3-torch python3-torchvision';

export class TorchPeer {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  /** Starts the reference and waits until its model is built. */
  static async start(o: TorchPeerOptions): Promise<TorchPeer> {
    const args = [
      'tools/bench/pytorch_methods.py',
      '--serve',
      '--model',
      o.model,
      '--threads',
      String(o.threads),
      '--samples',
      String(o.samples),
      '--steps',
      String(o.steps),
      '--smoothdiff-samples',
      o.smoothdiffSamples.join(','),
      ...(o.blas ? ['--blas', o.blas] : []),
    ];
    const child = spawn('/usr/bin/python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const peer = new TorchPeer(child);
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (e) => reject(new Error(`could not start the PyTorch reference (${e.message}); ${INSTALL_HINT}`)));
    });
    await Promise.race([peer.next(), failed]);
    return peer;
  }

  /** Runs one request; its answer. */
  async time(request: TorchRequest): Promise<TorchAnswer> {
    this.child.stdin.write(`${JSON.stringify(request)}\n`);
    return JSON.parse(await this.next()) as TorchAnswer;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }

  private async next(): Promise<string> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`the PyTorch reference exited (code ${this.child.exitCode ?? 'unknown'}); ${INSTALL_HINT}`);
    return value;
  }
}
