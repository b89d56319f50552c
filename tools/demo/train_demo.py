#!/usr/bin/python3
"""Train the bundled demo model of saliency-server: a small CNN that classifies coloured shapes.

Writes into models/demo/:

    model.onnx          opset 17, input 'input' [N,3,64,64] (ImageNet mean/std), output 'logits' [N,6]
    manifest.json       how the service preprocesses images for it, and its default Grad-CAM layer
    labels.txt          one label per line, in logit order
    samples/<label>.png one 256x256 validation-style scene per class, to upload to the API

The dataset is synthetic and generated on the fly (numpy only): one hard-edged shape per image,
at a random position, scale, rotation and colour, over a cluttered background (smooth colour
gradients, faint stripes, soft blobs and thin curved strokes, none of them one of the shapes).
Scenes are parametric and rendered with analytic anti-aliasing, so the same scene can be drawn at
64x64 (training) or 256x256 (samples, downscaled by the service like any photo).

Deterministic: fixed seeds, 2 CPU threads. Run with Debian's PyTorch:

    /usr/bin/python3 tools/demo/train_demo.py
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import onnx
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "models" / "demo"
LABELS = ["circle", "square", "triangle", "star", "cross", "ring"]
SIZE = 64             # model input size
SAMPLE_SIZE = 256     # size of the sample PNGs
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
N_TRAIN, N_VAL = 6000, 600
SEED_TRAIN, SEED_VAL, SEED_SAMPLES, SEED_TORCH = 1, 2, 3, 0
MAX_ONNX_BYTES = 5 * 1024 * 1024


# ----------------------------------------------------------------------------------------------
# Scenes: parametric descriptions in unit coordinates ([0,1]^2, x right, y down)
# ----------------------------------------------------------------------------------------------

def random_colour(rng):
    """A saturated-ish random RGB colour in [0,1]."""
    h = rng.uniform(0, 1)
    s = rng.uniform(0.35, 1.0)
    v = rng.uniform(0.25, 1.0)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def shape_polygon(label, rotation):
    """Vertices (unit circumradius, centred at 0) of the polygonal shapes, rotated."""
    if label == "square":
        a = np.pi / 4 + np.arange(4) * np.pi / 2
        pts = np.stack([np.cos(a), np.sin(a)], 1) * 0.95
    elif label == "triangle":
        a = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([np.cos(a), np.sin(a)], 1) * 1.1
    elif label == "star":
        a = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.1, 0.45)
        pts = np.stack([np.cos(a) * r, np.sin(a) * r], 1)
    elif label == "cross":
        w, e = 0.32, 1.0
        pts = np.array([(w, -e), (w, -w), (e, -w), (e, w), (w, w), (w, e),
                        (-w, e), (-w, w), (-e, w), (-e, -w), (-w, -w), (-w, -e)])
    else:
        raise ValueError(label)
    c, s = math.cos(rotation), math.sin(rotation)
    return pts @ np.array([[c, s], [-s, c]])


def background_mean(bg, x, y):
    """Background gradient colour at one point (for the contrast check)."""
    t = np.clip((x - 0.5) * bg["dir"][0] + (y - 0.5) * bg["dir"][1] + 0.5, 0, 1)
    return bg["c0"] * (1 - t) + bg["c1"] * t


def make_scene(rng, label):
    """Random scene with one `label` shape over clutter. All sizes in unit coordinates."""
    a = rng.uniform(0, 2 * np.pi)
    bg = {"c0": random_colour(rng), "c1": random_colour(rng),
          "dir": np.array([math.cos(a), math.sin(a)]) * rng.uniform(0.6, 1.6),
          "stripes": {"amp": rng.uniform(0.0, 0.08), "freq": rng.uniform(2, 7),
                      "angle": rng.uniform(0, np.pi), "phase": rng.uniform(0, 2 * np.pi)}}
    blobs = []
    for _ in range(rng.integers(3, 7)):
        blobs.append({"c": rng.uniform(0.05, 0.95, 2), "sigma": rng.uniform(0.03, 0.12),
                      "alpha": rng.uniform(0.3, 0.8), "colour": random_colour(rng)})
    strokes = []
    for _ in range(rng.integers(4, 10)):
        p = rng.uniform(-0.05, 1.05, 2)
        heading = rng.uniform(0, 2 * np.pi)
        step = rng.uniform(0.06, 0.16)
        turn = rng.uniform(-0.9, 0.9)
        pts = [p.copy()]
        for _ in range(rng.integers(3, 7)):
            heading += turn + rng.normal(0, 0.3)
            p = p + step * np.array([math.cos(heading), math.sin(heading)])
            pts.append(p.copy())
        strokes.append({"pts": np.array(pts), "width": rng.uniform(0.006, 0.03),
                        "colour": random_colour(rng), "alpha": rng.uniform(0.6, 1.0)})
    radius = rng.uniform(0.16, 0.34)
    margin = radius * 1.12 + 0.02
    cx, cy = rng.uniform(margin, 1 - margin, 2)
    base = background_mean(bg, cx, cy)
    for _ in range(50):
        colour = random_colour(rng)
        if np.linalg.norm(colour - base) > 0.45:
            break
    obj = {"label": label, "centre": np.array([cx, cy]), "radius": radius,
           "rotation": rng.uniform(0, 2 * np.pi), "colour": colour}
    return {"bg": bg, "blobs": blobs, "strokes": strokes, "object": obj}


# ----------------------------------------------------------------------------------------------
# Rendering (numpy, analytic anti-aliasing from signed distances)
# ----------------------------------------------------------------------------------------------

def segment_distance(px, py, a, b):
    d = b - a
    t = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
    return np.hypot(px - a[0] - t * d[0], py - a[1] - t * d[1])


def polygon_sdf(px, py, verts):
    """Signed distance to a simple polygon (negative inside)."""
    dist = np.full(px.shape, np.inf)
    inside = np.zeros(px.shape, bool)
    n = len(verts)
    for i in range(n):
        a, b = verts[i], verts[(i + 1) % n]
        dist = np.minimum(dist, segment_distance(px, py, a, b))
        crosses = (a[1] > py) != (b[1] > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (b[0] - a[0]) * (py - a[1]) / (b[1] - a[1]) + a[0]
        inside ^= crosses & (px < xint)
    return np.where(inside, -dist, dist)


def object_sdf(obj, px, py):
    r = obj["radius"]
    u, v = (px - obj["centre"][0]) / r, (py - obj["centre"][1]) / r
    if obj["label"] == "circle":
        d = np.hypot(u, v) - 1.0
    elif obj["label"] == "ring":
        d = np.abs(np.hypot(u, v) - 0.78) - 0.22
    else:
        d = polygon_sdf(u, v, shape_polygon(obj["label"], obj["rotation"]))
    return d * r


def coverage(sdf, size, aa):
    """Pixel coverage from a signed distance in unit coordinates; ramp `aa` pixels wide."""
    return np.clip(0.5 - sdf * size / aa, 0.0, 1.0)


def render(scene, size, aa=1.0):
    """Scene -> (float32 HxWx3 image in [0,1], float32 HxW object coverage)."""
    g = (np.arange(size) + 0.5) / size
    px, py = np.meshgrid(g, g)
    bg = scene["bg"]
    t = np.clip((px - 0.5) * bg["dir"][0] + (py - 0.5) * bg["dir"][1] + 0.5, 0, 1)[..., None]
    img = bg["c0"] * (1 - t) + bg["c1"] * t
    st = bg["stripes"]
    proj = px * math.cos(st["angle"]) + py * math.sin(st["angle"])
    img = img + st["amp"] * np.sin(2 * np.pi * st["freq"] * proj + st["phase"])[..., None]
    for b in scene["blobs"]:
        w = b["alpha"] * np.exp(-((px - b["c"][0]) ** 2 + (py - b["c"][1]) ** 2) / (2 * b["sigma"] ** 2))
        img = img * (1 - w[..., None]) + b["colour"] * w[..., None]
    for s in scene["strokes"]:
        pts = s["pts"]
        d = np.full(px.shape, np.inf)
        for i in range(len(pts) - 1):
            d = np.minimum(d, segment_distance(px, py, pts[i], pts[i + 1]))
        w = s["alpha"] * coverage(d - s["width"] / 2, size, aa)
        img = img * (1 - w[..., None]) + s["colour"] * w[..., None]
    mask = coverage(object_sdf(scene["object"], px, py), size, aa)
    img = img * (1 - mask[..., None]) + scene["object"]["colour"] * mask[..., None]
    return np.clip(img, 0, 1).astype(np.float32), mask.astype(np.float32)


def to_uint8(img):
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_dataset(seed, n):
    """n images (uint8 NxHxWx3) with balanced labels, rendered at SIZE with jittered AA and noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(LABELS)
    rng.shuffle(labels)
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    for i, y in enumerate(labels):
        scene = make_scene(rng, LABELS[y])
        img, _ = render(scene, SIZE, aa=rng.uniform(1.0, 2.0))
        img = img + rng.normal(0, rng.uniform(0, 0.02), img.shape)
        images[i] = to_uint8(img)
    return images, labels.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------

def block(cin, cout, pool):
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class ShapesNet(nn.Module):
    """4 conv blocks (3 of them pooled: 64 -> 8), global average pool, linear classifier."""

    def __init__(self, num_classes=len(LABELS)):
        super().__init__()
        self.features = nn.Sequential(block(3, 16, True), block(16, 32, True),
                                      block(32, 64, True), block(64, 128, False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def to_tensor(images_u8):
    """uint8 NxHxWx3 -> normalised float32 Nx3xHxW (range [0,1], then ImageNet mean/std)."""
    x = torch.from_numpy(images_u8).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def augment(x, gen):
    """Random flips and 90-degree rotations (every class is invariant to them)."""
    if torch.rand(1, generator=gen).item() < 0.5:
        x = x.flip(3)
    return torch.rot90(x, int(torch.randint(4, (1,), generator=gen).item()), (2, 3))


def evaluate(model, x, y, batch=200):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def train(model, xtr, ytr, xval, yval, epochs, batch=64, lr=4e-3):
    gen = torch.Generator().manual_seed(SEED_TORCH)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * (len(xtr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(xtr) - batch + 1, batch):
            idx = perm[i:i + batch]
            xb = augment(xtr[idx], gen)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
        acc = evaluate(model, xval, yval)
        print(f"epoch {epoch + 1:2d}/{epochs}  loss {total / n:.4f}  val acc {acc:.4f}  ({time.time() - t0:.1f} s)",
              flush=True)
    return evaluate(model, xval, yval)


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------

def export_onnx(model, path):
    model.eval()
    dummy = torch.zeros(1, 3, SIZE, SIZE)
    torch.onnx.export(model, dummy, str(path), opset_version=17, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    gap = [n for n in proto.graph.node if n.op_type in ("GlobalAveragePool", "ReduceMean")]
    assert len(gap) == 1, [n.op_type for n in proto.graph.node]
    size = path.stat().st_size
    assert size < MAX_ONNX_BYTES, size
    return proto, gap[0].input[0], size


# ----------------------------------------------------------------------------------------------
# Samples and explanation sanity check
# ----------------------------------------------------------------------------------------------

def model_view(png_path):
    """What the service feeds the model: the PNG stretched to 64x64 with a (antialiased) bilinear filter."""
    with Image.open(png_path) as im:
        small = im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    return np.asarray(small, np.uint8)[None]


def samples_and_saliency(model, out_dir):
    """One 256x256 scene per class (validation generator), prediction and gradient energy table."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED_SAMPLES)
    model.eval()
    rows = []
    for k, label in enumerate(LABELS):
        scene = make_scene(rng, label)
        big, _ = render(scene, SAMPLE_SIZE)
        path = out_dir / f"{label}.png"
        Image.fromarray(to_uint8(big)).save(path, optimize=True)
        x = to_tensor(model_view(path)).requires_grad_(True)
        logits = model(x)
        prob = torch.softmax(logits, 1)[0]
        top = int(prob.argmax())
        logits[0, k].backward()
        g = x.grad[0].norm(dim=0).numpy().astype(np.float64)        # per-pixel L2 over channels
        _, cover = render(scene, SIZE)
        mask = cover >= 0.5
        dil = F.max_pool2d(torch.from_numpy(mask[None, None].astype(np.float32)), 5, 1, 2)[0, 0].numpy() > 0
        e = g ** 2
        rows.append({"label": label, "top1": LABELS[top], "prob": float(prob[top]), "p_true": float(prob[k]),
                     "area": float(mask.mean()), "energy": float(e[mask].sum() / e.sum()),
                     "mass": float(g[mask].sum() / g.sum()),
                     "area_dil": float(dil.mean()), "energy_dil": float(e[dil].sum() / e.sum())})
    return rows


def print_table(rows):
    print("\nsample     top-1      prob   | mask area  energy  L2 mass | mask+2px area  energy")
    for r in rows:
        print(f"{r['label']:<10} {r['top1']:<10} {r['prob']:.3f}  |  {r['area']:.3f}    {r['energy']:.3f}   "
              f"{r['mass']:.3f}  |     {r['area_dil']:.3f}       {r['energy_dil']:.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(SEED_TORCH)
    np.random.seed(SEED_TORCH)
    t_start = time.time()
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}", flush=True)

    t0 = time.time()
    tr_img, tr_y = make_dataset(SEED_TRAIN, N_TRAIN)
    va_img, va_y = make_dataset(SEED_VAL, N_VAL)
    print(f"dataset: {N_TRAIN} train + {N_VAL} val images in {time.time() - t0:.1f} s", flush=True)
    xtr, ytr = to_tensor(tr_img), torch.from_numpy(tr_y)
    xval, yval = to_tensor(va_img), torch.from_numpy(va_y)

    model = ShapesNet()
    t0 = time.time()
    acc = train(model, xtr, ytr, xval, yval, args.epochs)
    t_train = time.time() - t0
    print(f"validation accuracy {acc:.4f} ({round(acc * N_VAL)}/{N_VAL}); training {t_train:.0f} s", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    _, gradcam_layer, size = export_onnx(model, onnx_path)
    print(f"model.onnx: {size} bytes, Grad-CAM layer {gradcam_layer!r}")

    (args.out / "labels.txt").write_text("".join(f"{label}\n" for label in LABELS))
    manifest = {
        "name": "demo-shapes",
        "description": ("Demo classifier of coloured shapes (" + ", ".join(LABELS) + ") on cluttered "
                        "backgrounds: a 4-block CNN trained on synthetic 64x64 images by "
                        f"tools/demo/train_demo.py (validation accuracy {acc * 100:.1f}%)."),
        "input": {"name": "input", "layout": "NCHW", "size": [SIZE, SIZE], "channels": 3,
                  "resize": {"mode": "resize", "shorter": None}, "range": [0, 1], "mean": MEAN, "std": STD},
        "labels": "labels.txt",
        "output": {"name": "logits", "kind": "logits"},
        "gradCamLayer": gradcam_layer,
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    rows = samples_and_saliency(model, args.out / "samples")
    print_table(rows)
    wrong = [r["label"] for r in rows if r["top1"] != r["label"]]
    assert not wrong, f"samples misclassified: {wrong}"
    assert all(r["energy"] > 2 * r["area"] for r in rows), "gradient energy not concentrated on the objects"
    print(f"\ntotal time {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
