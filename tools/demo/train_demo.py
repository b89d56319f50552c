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
64x64 (training) or 256x256 (samples, downscaled by the service like any photo). A second stage
fine-tunes the BatchNorm-folded network on fresh scenes with penalties on the share of its input
gradients' and class activation map's energy off the shape, so every method's map stays on it.

Deterministic: fixed seeds, one CPU thread (a reduction order that does not depend on scheduling). Run with Debian's PyTorch:

    /usr/bin/python3 tools/demo/train_demo.py
"""

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
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
EPOCHS, BATCH, LR = 30, 64, 4e-3
# Weight of the mean last-block activation (an L1 penalty, the activations being ReLU outputs) in the
# loss: it keeps the class features off the clutter, so the gradients and Grad-CAM maps of the demo
# concentrate on the shape (30 epochs, validation set, ring band as its mask: ~27% of the gradient
# energy in the object mask without it, ~34% with it; 100% accuracy either way).
L1 = 2.0
# Gaussian input-noise augmentation (SmoothGrad, Smilkov et al. 2017, section 5: training with noise
# makes the maps cleaner). Each training image gets sigma ~ U(0, NOISE_MAX) times its own value range
# in model space -- the scale SmoothGrad's `noise` parameter uses (service default 0.15).
NOISE_MAX = 0.2
# Second stage ("right for the right reasons", Ross et al. 2017): BatchNorm is folded into the convs,
# so the network fine-tuned is exactly the exported graph, and it is fine-tuned on freshly generated
# scenes with penalties for the true class: FT_GRAD times the share of the input-gradient energy
# (sum over channels of g^2, g = d logit / d x, by double backprop) and of the gradient x input
# energy outside the shape + DILATE_PX px, each on the clean input, on a noisy copy (sigma FT_NOISE
# of the image's range, as SmoothGrad sees it) and at a random point of Integrated Gradients' path
# from the zero baseline; and FT_CAM times the same share of the class activation map (the last
# block's CAM for the true class, upsampled to 64x64). Every FT_BIG-th scene is rendered at
# SAMPLE_SIZE and downscaled as the service does an upload.
FT_EPOCHS, FT_LR, FT_GRAD, FT_CAM, FT_NOISE, FT_BIG = 8, 2e-3, 8.0, 2.0, 0.15, 4
N_FINETUNE, SEED_FINETUNE = 6000, 4
# Every method is scored at the service's defaults: the share of its map's energy (sum over
# channels of a^2) on the shape grown by DILATE_PX pixels, on every bundled sample and on average
# over the validation set. Every method must reach ENERGY_MIN everywhere (tools/demo/README.md).
ENERGY_MIN, DILATE_PX, CHECK_SEED = 0.6, 2, 1


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
    """Scene -> (float32 HxWx3 image in [0,1], float32 HxW coverage of the object's footprint: the
    region its outline encloses, the ring's hole included)."""
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
    obj = scene["object"]
    mask = coverage(object_sdf(obj, px, py), size, aa)
    img = img * (1 - mask[..., None]) + obj["colour"] * mask[..., None]
    if obj["label"] == "ring":
        mask = coverage(np.hypot(px - obj["centre"][0], py - obj["centre"][1]) - obj["radius"], size, aa)
    return np.clip(img, 0, 1).astype(np.float32), mask.astype(np.float32)


def to_uint8(img):
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_dataset(seed, n, big_every=0):
    """n images (uint8 NxHxWx3) with balanced labels, rendered at SIZE with jittered AA and noise,
    their labels and object footprint masks (bool NxHxW, coverage >= 0.5). With `big_every`, every
    `big_every`-th is instead rendered at SAMPLE_SIZE (1 px ramp, no pixel noise, as the samples) and
    downscaled to SIZE the way the service resizes an upload (PIL BILINEAR)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(LABELS)
    rng.shuffle(labels)
    images = np.empty((n, SIZE, SIZE, 3), np.uint8)
    masks = np.empty((n, SIZE, SIZE), bool)
    for i, y in enumerate(labels):
        scene = make_scene(rng, LABELS[y])
        if big_every and i % big_every == 0:
            big, _ = render(scene, SAMPLE_SIZE)
            images[i] = np.array(Image.fromarray(to_uint8(big)).resize((SIZE, SIZE), Image.BILINEAR), np.uint8)
            masks[i] = render(scene, SIZE)[1] >= 0.5
        else:
            img, cover = render(scene, SIZE, aa=rng.uniform(1.0, 2.0))
            images[i] = to_uint8(img + rng.normal(0, rng.uniform(0, 0.02), img.shape))
            masks[i] = cover >= 0.5
    return images, labels.astype(np.int64), masks


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------

def block(cin, cout, pool):
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class ShapesNet(nn.Module):
    """4 conv blocks (conv3x3-BN-ReLU, the first 3 max-pooled: 64 -> 8 px), global average pool, linear.
    The last ReLU output (8x8x128) is the default Grad-CAM layer."""

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


def augment(x, gen, noise_max=NOISE_MAX):
    """Random flips and 90-degree rotations (every class is invariant to them), then Gaussian noise
    with a per-image sigma drawn uniformly in [0, noise_max] times the image's value range."""
    if torch.rand(1, generator=gen).item() < 0.5:
        x = x.flip(3)
    x = torch.rot90(x, int(torch.randint(4, (1,), generator=gen).item()), (2, 3))
    if noise_max <= 0:
        return x
    flat = x.flatten(1)
    spread = (flat.max(1).values - flat.min(1).values).view(-1, 1, 1, 1)
    sigma = torch.rand(len(x), 1, 1, 1, generator=gen) * noise_max * spread
    return x + sigma * torch.randn(x.shape, generator=gen)


def evaluate(model, x, y, batch=200):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def one_cycle(model, lr, steps, warmup):
    """AdamW (weight decay 5e-4) under a one-cycle schedule to `lr` over `steps`, `warmup` of them rising."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=warmup)


def train(model, xtr, ytr, xval, yval, epochs, batch=BATCH, lr=LR, noise_max=NOISE_MAX):
    gen = torch.Generator().manual_seed(SEED_TORCH)
    opt, sched = one_cycle(model, lr, epochs * (len(xtr) // batch), warmup=0.2)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=gen)
        total, n = 0.0, 0
        for i in range(0, len(xtr) - batch + 1, batch):
            idx = perm[i:i + batch]
            xb = augment(xtr[idx], gen, noise_max)
            feats = model.features(xb)
            logits = model.classifier(torch.flatten(model.pool(feats), 1))
            loss = F.cross_entropy(logits, ytr[idx], label_smoothing=0.05) + L1 * feats.mean()
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
# Second stage: fine-tune the BatchNorm-folded network so its maps stay on the shape
# ----------------------------------------------------------------------------------------------

def fold_batchnorm(model):
    """The same network with each BatchNorm (eval statistics) folded into the conv before it and
    replaced by an identity: exactly the graph the ONNX export computes, and the same node names."""
    model.eval()
    for blk in model.features:
        conv, bn = blk[0], blk[1]
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        folded = nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=True)
        with torch.no_grad():
            folded.weight.copy_(conv.weight.detach() * scale.view(-1, 1, 1, 1))
            folded.bias.copy_(bn.bias.detach() - bn.running_mean * scale)
        blk[0], blk[1] = folded, nn.Identity()
    return model


def outside_share(energy, grown):
    """Per image: the share of a non-negative [N,H,W] energy map outside the `grown` mask."""
    total = energy.sum((1, 2))
    return (energy * (1 - grown)).sum((1, 2)) / (total + 1e-12)


def rotate_pair(x, m, gen):
    """augment's flips and 90-degree rotations, applied alike to the images and their masks."""
    if torch.rand(1, generator=gen).item() < 0.5:
        x, m = x.flip(3), m.flip(2)
    k = int(torch.randint(4, (1,), generator=gen).item())
    return torch.rot90(x, k, (2, 3)), torch.rot90(m, k, (1, 2))


def map_penalties(model, x, y, grown, gen, noise=FT_NOISE):
    """Each image of the batch as one of three views (a third each): clean, a noisy copy as SmoothGrad
    sees it, or a random point alpha*x of Integrated Gradients' path from the zero baseline. Returns
    the logits of the clean and noisy views, the clean views' last-block features, the mean share of
    the true class's input-gradient and gradient x input energy outside `grown`, and the mean share of
    its CAM energy outside `grown` (clean views)."""
    n = len(x)
    a, b = n // 3, 2 * n // 3
    flat = x.flatten(1)
    spread = (flat.max(1).values - flat.min(1).values).view(-1, 1, 1, 1)
    noisy = x[a:b] + noise * spread[a:b] * torch.randn(x[a:b].shape, generator=gen)
    alpha = torch.rand(n - b, 1, 1, 1, generator=gen)
    views = torch.cat([x[:a], noisy, alpha * x[b:]]).requires_grad_(True)
    multiplier = torch.cat([x[:a], noisy, x[b:]])
    feats = model.features(views)
    logits = model.classifier(torch.flatten(model.pool(feats), 1))
    (g,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), views, create_graph=True)
    grad_share = (outside_share((g ** 2).sum(1), grown) + outside_share(((g * multiplier) ** 2).sum(1), grown)) / 2
    cam = F.relu(torch.einsum("nkhw,nk->nhw", feats[:a], model.classifier.weight[y[:a]]))
    cam = F.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    cam_share = outside_share(cam ** 2, grown[:a])
    return logits[:b], feats[:a], grad_share.mean(), cam_share.mean()


def finetune(model, xtr, ytr, mtr, xval, yval, epochs=FT_EPOCHS, lr=FT_LR, w_grad=FT_GRAD, w_cam=FT_CAM,
             batch=BATCH, noise=FT_NOISE):
    """Second stage on the BatchNorm-folded `model`: cross-entropy (clean and noisy views) and the L1
    penalty (clean views) as in `train`, plus w_grad x the input-gradient share and w_cam x the CAM share outside
    the shape + DILATE_PX px (map_penalties)."""
    gen = torch.Generator().manual_seed(SEED_TORCH + 1)
    grown_all = torch.from_numpy(dilate(mtr, DILATE_PX).astype(np.float32))
    opt, sched = one_cycle(model, lr, epochs * (len(xtr) // batch), warmup=0.1)
    for epoch in range(epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(xtr), generator=gen)
        sums, n = np.zeros(4), 0
        for i in range(0, len(xtr) - batch + 1, batch):
            idx = perm[i:i + batch]
            xb, gb = rotate_pair(xtr[idx], grown_all[idx], gen)
            yb = ytr[idx]
            logits, feats, grad_share, cam_share = map_penalties(model, xb, yb, gb, gen, noise)
            ce = F.cross_entropy(logits, yb[:len(logits)], label_smoothing=0.05)
            loss = ce + L1 * feats.mean() + w_grad * grad_share + w_cam * cam_share
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            sums += np.array([loss.item(), ce.item(), grad_share.item(), cam_share.item()]) * len(idx)
            n += len(idx)
        acc = evaluate(model, xval, yval)
        loss, ce, gs, cs = sums / n
        print(f"fine-tune {epoch + 1:2d}/{epochs}  loss {loss:.4f}  ce {ce:.4f}  gradient share off {gs:.3f}  "
              f"CAM share off {cs:.3f}  val acc {acc:.4f}  ({time.time() - t0:.1f} s)", flush=True)
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
    """What the service feeds the model: the PNG stretched to 64x64 with an antialiased bilinear
    filter (PIL BILINEAR, as torchvision's Resize and the service's sharp 'linear' kernel)."""
    with Image.open(png_path) as im:
        small = im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
    return np.array(small, np.uint8)[None]


def dilate(masks, px):
    m = torch.from_numpy(np.ascontiguousarray(masks, np.float32))[:, None]
    return F.max_pool2d(m, 2 * px + 1, 1, px)[:, 0].numpy() > 0


def method_maps(model_dir, targets, x=None, images=None, seed=CHECK_SEED):
    """Every method's raw attribution at the service's defaults, computed by the service's own code
    (tools/demo/method-maps.mjs over dist/), for a preprocessed batch `x` or for image files (decoded
    and resized as the service does for an upload). Returns {method: float32 [N,C,H,W]}, {method: ms}."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cmd = ["node", str(REPO / "tools" / "demo" / "method-maps.mjs"), "--model-dir", str(model_dir),
               "--targets", ",".join(str(int(t)) for t in targets), "--seed", str(seed), "--out", str(tmp / "maps")]
        if x is not None:
            np.save(tmp / "x.npy", np.ascontiguousarray(x, np.float32))
            cmd += ["--input", str(tmp / "x.npy")]
        else:
            cmd += ["--images", ",".join(str(p) for p in images)]
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if run.returncode != 0:
            raise SystemExit(f"method-maps.mjs failed ({run.returncode}): {run.stderr.strip()}")
        done = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        maps = {d["method"]: np.load(tmp / "maps" / f"{d['method']}.npy") for d in done}
        return maps, {d["method"]: d["ms"] for d in done}


def energy_on_shape(maps, masks, px=DILATE_PX):
    """Per image: the share of the map's energy (sum over channels of a^2) on the shape's footprint
    grown by `px` pixels (the shape with its boundary, where edge features' gradients sit)."""
    grown = dilate(masks, px)
    energy = (maps.astype(np.float64) ** 2).sum(1)
    total = energy.sum((1, 2))
    return np.where(total > 0, (energy * grown).sum((1, 2)) / np.where(total > 0, total, 1), 0.0)


def check_methods(model_dir, val_x, val_y, val_masks):
    """Every method's energy share on the validation set (mean) and on each bundled sample, the
    samples' predictions, and whether everything passes ENERGY_MIN."""
    rng = np.random.default_rng(SEED_SAMPLES)
    scenes = [make_scene(rng, label) for label in LABELS]
    sample_masks = np.stack([render(scene, SIZE)[1] >= 0.5 for scene in scenes])
    sample_paths = [model_dir / "samples" / f"{label}.png" for label in LABELS]
    sample_maps, _ = method_maps(model_dir, range(len(LABELS)), images=sample_paths)
    val_maps, times = method_maps(model_dir, val_y, x=val_x)
    rows = []
    for method, maps in val_maps.items():
        val = energy_on_shape(maps, val_masks)
        per_sample = energy_on_shape(sample_maps[method], sample_masks)
        rows.append({"method": method, "val": float(val.mean()), "val_min": float(val.min()),
                     "samples": [float(v) for v in per_sample], "ms": times[method]})
    return rows, float(dilate(val_masks, DILATE_PX).mean())


def print_method_table(rows, area):
    print(f"\nshare of each map's energy on the shape + {DILATE_PX} px (seed {CHECK_SEED}; "
          f"the shape + {DILATE_PX} px covers {area:.3f} of a validation image on average):\n")
    print("| method | validation mean | validation min | " + " | ".join(LABELS) + " |")
    print("|---|---|---|" + "---|" * len(LABELS))
    for r in rows:
        print(f"| {r['method']} | {r['val']:.2f} | {r['val_min']:.2f} | " + " | ".join(f"{v:.2f}" for v in r["samples"]) + " |")


def samples(model, out_dir):
    """One 256x256 scene per class (its own generator), written as PNG; the model's prediction on it
    after the service's resize."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED_SAMPLES)
    model.eval()
    rows, previews = [], []
    for k, label in enumerate(LABELS):
        scene = make_scene(rng, label)
        big, _ = render(scene, SAMPLE_SIZE)
        path = out_dir / f"{label}.png"
        Image.fromarray(to_uint8(big)).save(path, optimize=True)
        x = to_tensor(model_view(path))
        with torch.no_grad():
            prob = torch.softmax(model(x), 1)[0]
        top = int(prob.argmax())
        previews.append(preview_pair(model, x, k))
        rows.append({"label": label, "top1": LABELS[top], "prob": float(prob[top])})
    return rows, np.concatenate(previews, 0)


def preview_pair(model, x, target):
    """The 64x64 model input beside its input-gradient map (per-pixel L2, scaled to its 99th percentile)."""
    x = x.clone().requires_grad_(True)
    model(x)[0, target].backward()
    g = x.grad[0].norm(dim=0).numpy()
    g = np.clip(g / np.percentile(g, 99), 0, 1)
    img = (x.detach()[0] * torch.tensor(STD).view(3, 1, 1) + torch.tensor(MEAN).view(3, 1, 1)).permute(1, 2, 0).numpy()
    return np.concatenate([to_uint8(img), to_uint8(np.repeat(g[..., None], 3, 2))], 1)


def check_and_report(model_dir, xval, yval, va_masks):
    """Score every method on the model in `model_dir`; assert ENERGY_MIN. Returns the failures."""
    t0 = time.time()
    rows, area = check_methods(model_dir, xval.numpy(), yval.numpy(), va_masks)
    print_method_table(rows, area)
    print(f"(method maps in {time.time() - t0:.0f} s)")
    failures = []
    for r in rows:
        if r["val"] < ENERGY_MIN:
            failures.append(f"{r['method']}: validation mean {r['val']:.2f}")
        failures += [f"{r['method']}: {label} {v:.2f}" for label, v in zip(LABELS, r["samples"]) if v < ENERGY_MIN]
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--noise-max", type=float, default=NOISE_MAX,
                    help="input-noise augmentation: sigma up to this times each image's value range (0: off)")
    ap.add_argument("--finetune-epochs", type=int, default=FT_EPOCHS,
                    help="epochs of the second stage (map penalties on the BatchNorm-folded network; 0: none)")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--preview", type=Path, help="also write a PNG of each sample beside its input-gradient map")
    ap.add_argument("--check-only", action="store_true",
                    help="train nothing: score every method on the model already in --out")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(SEED_TORCH)
    np.random.seed(SEED_TORCH)
    t_start = time.time()
    print(f"torch {torch.__version__}, onnx {onnx.__version__}, numpy {np.__version__}", flush=True)

    t0 = time.time()
    va_img, va_y, va_masks = make_dataset(SEED_VAL, N_VAL)
    xval, yval = to_tensor(va_img), torch.from_numpy(va_y)
    if args.check_only:
        failures = check_and_report(args.out, xval, yval, va_masks)
        print("\n" + ("every method passes" if not failures else f"below {ENERGY_MIN}: " + "; ".join(failures)))
        return 1 if failures else 0

    tr_img, tr_y, _ = make_dataset(SEED_TRAIN, N_TRAIN)
    print(f"dataset: {N_TRAIN} train + {N_VAL} val images in {time.time() - t0:.1f} s", flush=True)
    xtr, ytr = to_tensor(tr_img), torch.from_numpy(tr_y)

    model = ShapesNet()
    t0 = time.time()
    acc = train(model, xtr, ytr, xval, yval, args.epochs, noise_max=args.noise_max)
    t_train = time.time() - t0
    print(f"validation accuracy {acc:.4f} ({round(acc * N_VAL)}/{N_VAL}); training {t_train:.0f} s", flush=True)

    fold_batchnorm(model)
    if args.finetune_epochs > 0:
        t0 = time.time()
        ft_img, ft_y, ft_masks = make_dataset(SEED_FINETUNE, N_FINETUNE, big_every=FT_BIG)
        print(f"second stage: {N_FINETUNE} fresh images (seed {SEED_FINETUNE}) in {time.time() - t0:.1f} s", flush=True)
        t0 = time.time()
        acc = finetune(model, to_tensor(ft_img), torch.from_numpy(ft_y), ft_masks, xval, yval, args.finetune_epochs)
        t_finetune = time.time() - t0
        print(f"validation accuracy {acc:.4f} ({round(acc * N_VAL)}/{N_VAL}); second stage {t_finetune:.0f} s", flush=True)
    assert acc >= 0.95, acc

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "model.onnx"
    _, gradcam_layer, size = export_onnx(model, onnx_path)
    print(f"model.onnx: {size} bytes, Grad-CAM layer {gradcam_layer!r}")

    (args.out / "labels.txt").write_text("".join(f"{label}\n" for label in LABELS))
    manifest = {
        "name": "demo-shapes",
        "description": ("Demo classifier of coloured shapes (" + ", ".join(LABELS) + ") on cluttered "
                        "backgrounds: a 4-block CNN trained with input noise, then fine-tuned to keep its maps on the "
                        "shapes, on synthetic 64x64 images by "
                        f"tools/demo/train_demo.py ({acc * 100:.1f}% on {N_VAL} held-out synthetic images)."),
        "input": {"name": "input", "layout": "NCHW", "size": [SIZE, SIZE], "channels": 3,
                  "resize": {"mode": "resize", "shorter": None}, "range": [0, 1], "mean": MEAN, "std": STD},
        "labels": "labels.txt",
        "output": {"name": "logits", "kind": "logits"},
        "gradCamLayer": gradcam_layer,
    }
    text = json.dumps(manifest, indent=2)
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    assert json.loads(text) == manifest
    (args.out / "manifest.json").write_text(text + "\n")

    rows, preview = samples(model, args.out / "samples")
    print("\n| sample | top-1 | prob |\n|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['top1']} | {r['prob']:.3f} |")
    if args.preview:
        Image.fromarray(preview).resize((preview.shape[1] * 3, preview.shape[0] * 3), Image.NEAREST).save(args.preview)
    wrong = [r["label"] for r in rows if r["top1"] != r["label"]]
    assert not wrong, f"samples misclassified: {wrong}"

    failures = check_and_report(args.out, xval, yval, va_masks)
    assert not failures, f"maps off the shape (share of energy on the shape + {DILATE_PX} px below {ENERGY_MIN}): " + "; ".join(failures)
    print(f"\ntotal time {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
