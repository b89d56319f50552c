#!/usr/bin/python3
"""PyTorch timing reference for `npm run bench` (docs/methods.md).

Times ONE explanation of ONE 3x224x224 image (or --batch images) per method, written the way an
efficient PyTorch user would (batched like Captum with internal_batch_size=None):

    gradient               one forward + backward of logit[target] w.r.t. the input
    integrated-gradients   `steps` Gauss-Legendre points on [0,1], zero baseline, all points in ONE
                           batch, backward of the sum of target logits, (x - x0) * sum_k w_k g_k
    smoothgrad             `samples` noisy copies (sigma = 0.15 (max - min)) in ONE batch,
                           forward + backward, mean of the gradients
    (--chunks 1,5,10,25,all times smoothgrad and integrated-gradients at each batch size and
    reports the fastest: PyTorch's best setting, not one fixed batch)
    smoothdiff-<n>         resnet50 only (null for vit_b_16): n noisy copies (sigma = 0.1 (max -
                           min), SmoothDiff's default) in ONE batch of forward passes
                           under torch.no_grad() collect per call site ReLU p-hat and MaxPool
                           per-window winner fractions, then ONE backward at the clean input with
                           ReLU backward g * p-hat and MaxPool backward scattering g * fraction

The SmoothDiff code here is OUR straightforward reference implementation of the definition in
docs/methods.md (Hill et al., NeurIPS 2025), not the authors' code: modules replace nn.ReLU /
nn.MaxPool2d and custom autograd Functions inject the statistics.

Models are torchvision's resnet50() / vit_b_16() with random weights (no network), eval mode,
float32; the ViT head is re-initialised N(0, 0.01^2) because torchvision zero-initialises it, which
would make every input gradient zero. The target is the argmax on the clean input, chosen before
timing. Each method gets one untimed warm-up run, then `repeat` timed runs; the reported value is
the median wall time in milliseconds. Only the explanation is timed (model built, input created).

With --serve it stays up instead, so `npm run bench` can alternate our runs with PyTorch's in the
same minutes of load: it prints {"ready": ...} and answers each line of JSON on stdin with one line
on stdout, {"run": "smoothgrad", "chunk": "10", "times": 1, "warmup": 0, "resetPeak": false} ->
{"ms": [...], "peakRssMb": ...} ("ms": null for a method this model has no reference for).

Otherwise it prints ONE JSON object on stdout; progress goes to stderr:

    /usr/bin/python3 tools/bench/pytorch_methods.py --model resnet50 --threads 2 --repeat 3 \
        --methods gradient,integrated-gradients,smoothgrad,smoothdiff --samples 50 --steps 50 \
        --smoothdiff-samples 20,50 --batch 1
"""

import argparse
import ctypes
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True


def _blas_threads_from_argv():
    """OpenBLAS sizes its pool when the library loads, and a torch built against the generic
    libblas.so.3 never calls openblas_set_num_threads: --threads must reach it before `import
    torch`, or a matmul-heavy model (ViT) would use every core whatever --threads says."""
    for i, a in enumerate(sys.argv):
        v = a.split("=", 1)[1] if a.startswith("--threads=") else (
            sys.argv[i + 1] if a == "--threads" and i + 1 < len(sys.argv) else None)
        if v is not None and v.isdigit():
            for var in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS"):
                os.environ[var] = v


_blas_threads_from_argv()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# The backward halves of SmoothDiff (averaged ReLU masks, per-window MaxPool fractions) are the
# method-fixture reference's own: the same autograd functions the committed fixtures come from.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from make_method_fixtures import InjectMaxPoolFn, InjectReluFn  # noqa: E402

METHODS = ("gradient", "integrated-gradients", "smoothgrad", "smoothdiff")
MODELS = ("resnet50", "vit_b_16")
SHAPE = (3, 224, 224)
SMOOTHGRAD_NOISE = 0.15     # docs/methods.md defaults: sigma = noise * (max(x) - min(x))
SMOOTHDIFF_NOISE = 0.1


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# SmoothDiff: switchable ReLU / MaxPool (plain | collect | inject)
# --------------------------------------------------------------------------------------------

class State:
    """Shared by every replaced module of one model. Call sites are numbered in forward order:
    torchvision's Bottleneck calls its one nn.ReLU three times, which are three call sites."""

    def __init__(self):
        self.mode = "plain"
        self.site = 0
        self.stats = {}     # site -> statistics with the explained batch on axis 0
        self.copies = 1     # noisy copies per explained image in collect mode

    def next_site(self):
        s = self.site
        self.site += 1
        return s


class SmoothDiffReLU(nn.Module):
    def __init__(self, state):
        super().__init__()
        self.state = state

    def forward(self, z):
        st = self.state
        if st.mode == "plain":
            return F.relu(z)
        site = st.next_site()
        if st.mode == "collect":    # z: [B*n, ...], the n copies of each image contiguous
            pos = (z > 0).reshape(-1, st.copies, *z.shape[1:]).to(z.dtype)
            st.stats[site] = pos.mean(1)                                  # p-hat, strict >
            return F.relu(z)
        return InjectReluFn.apply(z, st.stats[site])


def winner_offsets(z, k, s, p):
    """Offset (raster order in the k x k window) of each window's winner, [N, C, Ho*Wo].
    PyTorch's CPU max_pool2d keeps the first maximum in raster order and never picks padding,
    which is exactly the winner docs/methods.md defines."""
    _, idx = F.max_pool2d(z, k, s, p, return_indices=True)            # flat h*W + w, unpadded
    N, C, Ho, Wo = idx.shape
    W = z.shape[3]
    top = (torch.arange(Ho) * s - p).view(1, 1, Ho, 1)
    left = (torch.arange(Wo) * s - p).view(1, 1, 1, Wo)
    off = (torch.div(idx, W, rounding_mode="floor") - top) * k + (idx % W - left)
    return off.reshape(N, C, Ho * Wo)


class SmoothDiffMaxPool(nn.Module):
    def __init__(self, state, pool):
        super().__init__()
        k, s, p = pool.kernel_size, pool.stride, pool.padding
        if not all(isinstance(v, int) for v in (k, s, p)) or pool.dilation != 1 or pool.ceil_mode:
            raise ValueError("only square MaxPool2d without dilation or ceil_mode is supported")
        self.state, self.k, self.s, self.p = state, k, s, p

    def forward(self, z):
        st = self.state
        if st.mode == "plain":
            return F.max_pool2d(z, self.k, self.s, self.p)
        site = st.next_site()
        if st.mode == "collect":
            off = winner_offsets(z, self.k, self.s, self.p)
            off = off.reshape(-1, st.copies, *off.shape[1:])             # [B, n, C, L]
            st.stats[site] = torch.stack(
                [(off == j).to(z.dtype).mean(1) for j in range(self.k * self.k)], 2)  # [B,C,kk,L]
            return F.max_pool2d(z, self.k, self.s, self.p)
        return InjectMaxPoolFn.apply(z, st.stats[site], self.k, self.s, self.p)


def make_smoothdiff_ready(model):
    """Replaces nn.ReLU / nn.MaxPool2d in place (non-inplace ops); returns the shared state."""
    state = State()

    def walk(mod):
        for name, child in mod.named_children():
            if isinstance(child, nn.ReLU):
                setattr(mod, name, SmoothDiffReLU(state))
            elif isinstance(child, nn.MaxPool2d):
                setattr(mod, name, SmoothDiffMaxPool(state, child))
            else:
                walk(child)
    walk(model)
    assert not any(isinstance(m, (nn.ReLU, nn.MaxPool2d)) for m in model.modules())
    return state


# --------------------------------------------------------------------------------------------
# Methods (each returns the attribution, shape of x)
# --------------------------------------------------------------------------------------------

CHUNK = None    # points per forward/backward (None: all in one batch); set by --chunks


def input_grad(model, points, targets):
    """d(sum_i logits[i, t_i]) / d points; targets is a LongTensor [len(points)]. With CHUNK set,
    the points go through in batches of CHUNK (Captum's internal_batch_size)."""
    if CHUNK is not None and CHUNK < len(points):
        return torch.cat([input_grad_all(model, points[i:i + CHUNK], targets[i:i + CHUNK])
                          for i in range(0, len(points), CHUNK)])
    return input_grad_all(model, points, targets)


def input_grad_all(model, points, targets):
    pts = points.detach().requires_grad_(True)
    logits = model(pts)
    (g,) = torch.autograd.grad(logits.gather(1, targets.view(-1, 1)).sum(), pts)
    return g


def gradient(model, x, targets):
    return input_grad(model, x, targets)


def integrated_gradients(model, x, targets, steps):
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alpha = torch.from_numpy((nodes + 1) / 2).float().view(-1, 1, 1, 1, 1)
    w = torch.from_numpy(weights / 2).float().view(-1, 1, 1, 1, 1)
    x0 = torch.zeros_like(x)
    delta = x - x0
    pts = x0 + alpha * delta.unsqueeze(0)                               # [T, B, ...]
    g = input_grad(model, pts.reshape(-1, *x.shape[1:]), targets.repeat(steps))
    return (w * g.reshape(steps, *x.shape)).sum(0) * delta


def sigma_of(x, noise):
    flat = x.reshape(x.shape[0], -1)
    return (noise * (flat.max(1).values - flat.min(1).values)).view(-1, 1, 1, 1, 1)


def noisy_copies(x, n, noise, gen):
    eps = torch.randn((x.shape[0], n, *x.shape[1:]), generator=gen) * sigma_of(x, noise)
    return (x.unsqueeze(1) + eps).reshape(-1, *x.shape[1:])              # [B*n, ...]


def smoothgrad(model, x, targets, n, gen):
    g = input_grad(model, noisy_copies(x, n, SMOOTHGRAD_NOISE, gen), targets.repeat_interleave(n))
    return g.reshape(x.shape[0], n, *x.shape[1:]).mean(1)


def smoothdiff(model, state, x, targets, n, gen):
    try:
        state.mode, state.site, state.copies, state.stats = "collect", 0, n, {}
        with torch.no_grad():
            model(noisy_copies(x, n, SMOOTHDIFF_NOISE, gen))
        state.mode, state.site = "inject", 0
        return input_grad(model, x, targets)
    finally:
        state.mode, state.stats = "plain", {}


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------

def build_model(name):
    import torchvision
    if name == "resnet50":
        model = torchvision.models.resnet50()
    else:
        model = torchvision.models.vit_b_16()
        nn.init.normal_(model.heads.head.weight, std=0.01)   # torchvision zero-inits the head
        nn.init.zeros_(model.heads.head.bias)
    return model.float().eval()


def csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=MODELS, default="resnet50")
    ap.add_argument("--methods", type=csv, default=list(METHODS))
    ap.add_argument("--samples", type=int, default=50, help="SmoothGrad copies")
    ap.add_argument("--steps", type=int, default=50, help="IG Gauss-Legendre points")
    ap.add_argument("--smoothdiff-samples", type=csv, default=["20", "50"])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--chunks", type=csv, default=["all"],
                    help="points per forward/backward to try for smoothgrad and integrated-gradients "
                         "(e.g. 1,5,10,25,all); each is timed, the fastest is reported with its size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--serve", action="store_true",
                    help="answer timing requests on stdin, one JSON line each (see the module's doc)")
    ap.add_argument("--blas", metavar="LIBBLAS_SO",
                    help="re-run with this libblas.so.3 preloaded (e.g. OpenBLAS extracted from "
                         "libopenblas0-pthread) instead of the system's")
    args = ap.parse_args(argv)
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown methods {unknown}; known: {','.join(METHODS)}")
    args.smoothdiff_samples = [int(s) for s in args.smoothdiff_samples]
    if min([args.samples, args.steps, args.threads, args.repeat, args.batch,
            *args.smoothdiff_samples]) < 1 or args.warmup < 0:
        ap.error("counts must be positive")
    return args


def loaded_blas():
    """Path of the BLAS shared library this process uses (Linux), after one matmul."""
    torch.ones(2, 2) @ torch.ones(2, 2)
    try:
        with open("/proc/self/maps") as f:
            libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    except OSError:
        return None
    preferred = sorted(libs, key=lambda p: ("openblas" not in p and "mkl" not in p, p))
    return os.path.realpath(preferred[0]) if preferred else None


def warn_if_reference_blas(path):
    # Debian's torch is built with BLAS_INFO=generic and uses whatever libblas.so.3 the
    # alternatives system selects. With only libblas3 (netlib reference) installed, nn.Linear and
    # matmul run ~15-20x slower than with OpenBLAS while convolutions (oneDNN) are unaffected, so
    # a ViT reference would be meaningless.
    if path and "openblas" not in path and "mkl" not in path and "blis" not in path:
        log(f"WARNING: torch uses the reference BLAS {path}: matmul-heavy models (vit_b_16) are "
            "~15-20x slower than with OpenBLAS. Install libopenblas0-pthread or pass "
            "--blas /path/to/openblas/libblas.so.3.")


def release_free_memory():
    """Hands glibc's free heap back to the kernel (malloc_trim), so that a method's peak is not the
    high-water mark an earlier, larger batch left behind in this long-lived process."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss():
    """Resets the process's peak resident memory (VmHWM; Linux: clear_refs 5). False if it cannot."""
    release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return None


def timed_runs(label, fn, warmup, repeat):
    """Wall times (ms) of `repeat` runs after `warmup` untimed ones; each result is checked."""
    times = []
    for i in range(warmup + repeat):
        t0 = time.perf_counter()
        out = fn()
        dt = (time.perf_counter() - t0) * 1000.0
        if not torch.isfinite(out).all() or not out.abs().sum() > 0:
            raise RuntimeError(f"{label}: attribution is non-finite or all zero")
        del out
        if i >= warmup:
            times.append(dt)
        log(f"  {label}: {'warm-up' if i < warmup else 'run'} {dt:.0f} ms")
    return times


def time_ms(label, fn, warmup, repeat):
    """Median wall time of `repeat` runs after `warmup`, and the peak RSS (MB) over them (None if unknown)."""
    resettable = reset_peak_rss()
    times = timed_runs(label, fn, warmup, repeat)
    return statistics.median(times), (peak_rss_mb() if resettable else None)


def serve(runs, info):
    """The --serve loop: one timing request per stdin line, one JSON answer per stdout line."""
    global CHUNK
    print(json.dumps({"ready": True, **info}), flush=True)
    resettable = False
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        name, chunk = req["run"], req.get("chunk")
        fn = runs.get(name)
        if req.get("resetPeak"):
            resettable = reset_peak_rss()
        if fn is None:
            print(json.dumps({"ms": None, "peakRssMb": None}), flush=True)
            continue
        CHUNK = None if chunk in (None, "all") else int(chunk)
        try:
            times = timed_runs(f"{name} (chunk {chunk or 'all'})", fn, int(req.get("warmup", 0)), int(req.get("times", 1)))
        finally:
            CHUNK = None
        print(json.dumps({"ms": times, "peakRssMb": peak_rss_mb() if resettable else None}), flush=True)


def main(argv):
    args = parse_args(argv)
    if args.blas:
        lib = os.path.abspath(args.blas)
        if os.environ.get("LD_PRELOAD") != lib:    # re-exec once so the loader picks it first
            if not os.path.isfile(lib):
                sys.exit(f"--blas {args.blas}: no such file")
            os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv],
                      {**os.environ, "LD_PRELOAD": lib})
    # Before any parallel work: afterwards PyTorch refuses to change the inter-op pool.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    model = build_model(args.model)
    state = make_smoothdiff_ready(model) if args.model == "resnet50" else None
    x = torch.randn(args.batch, *SHAPE)
    with torch.no_grad():
        targets = model(x).argmax(1)
    blas = loaded_blas()
    warn_if_reference_blas(blas)
    log(f"{args.model}: torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"BLAS {blas}, batch {args.batch}, targets {targets.tolist()}")

    gen = torch.Generator().manual_seed(args.seed)
    runs = {
        "gradient": lambda: gradient(model, x, targets),
        "integrated-gradients": lambda: integrated_gradients(model, x, targets, args.steps),
        "smoothgrad": lambda: smoothgrad(model, x, targets, args.samples, gen),
    }
    if args.serve:
        if state is not None:
            for n in args.smoothdiff_samples:
                runs[f"smoothdiff-{n}"] = lambda n=n: smoothdiff(model, state, x, targets, n, gen)
        serve(runs, {"model": args.model, "threads": args.threads, "torch": torch.__version__, "blas": blas})
        return
    global CHUNK
    results = {}
    peak_rss = {}   # MB, the peak resident memory while the method ran (at its best batch size)
    chunks = {}
    for method in args.methods:
        if method in ("smoothgrad", "integrated-gradients"):
            by_chunk = {}
            rss_by_chunk = {}
            for c in args.chunks:
                CHUNK = None if c == "all" else int(c)
                by_chunk[c], rss_by_chunk[c] = time_ms(f"{method} (chunk {c})", runs[method], args.warmup, args.repeat)
            CHUNK = None
            best = min(by_chunk, key=by_chunk.get)
            results[method] = by_chunk[best]
            peak_rss[method] = rss_by_chunk[best]
            chunks[method] = {"best": best, "ms": by_chunk, "rssMb": rss_by_chunk}
            continue
        if method != "smoothdiff":
            results[method], peak_rss[method] = time_ms(method, runs[method], args.warmup, args.repeat)
            continue
        for n in args.smoothdiff_samples:
            key = f"smoothdiff-{n}"
            if state is None:       # ViT has no ReLU / MaxPool; docs/methods.md's other rules not here
                results[key] = None
                log(f"  {key}: not implemented for {args.model} (null)")
            else:
                results[key], peak_rss[key] = time_ms(key, lambda n=n: smoothdiff(model, state, x, targets, n, gen),
                                                      args.warmup, args.repeat)

    print(json.dumps({"model": args.model, "threads": args.threads, "torch": torch.__version__,
                      "blas": blas, "results": results, "peakRssMb": peak_rss, "chunks": chunks}))


if __name__ == "__main__":
    main(sys.argv[1:])
