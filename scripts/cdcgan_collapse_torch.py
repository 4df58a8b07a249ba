"""PyTorch re-implementation of burngan's mnist-cdcgan-hinge-sn preset, to check whether the
intra-class collapse is a property of the recipe (docs/results.md, "Class-conditional runs
collapse within each class").

    python3 scripts/cdcgan_collapse_torch.py --seeds 0,1,2 --out /tmp/cdcgan.jsonl
    python3 scripts/cdcgan_collapse_torch.py --grid RUN/samples/step-000500.png   # burngan's side

The statistic: the mean over classes of the per-pixel standard deviation (pixels in [0, 1])
across 8 images of one class drawn from 8 fixed latent codes ("within"), beside the same over
all 80 images ("overall"). `--grid` computes it from a burngan sample grid (one row of 8 per
class, 28-pixel cells with 2-pixel borders).

Matches (from the Rust source):
- G: [z(100), Emb_N(0,1)(y)(50)] -> Linear 150->1024 -> BN -> ReLU -> Linear 1024->64*7*7 -> BN
  -> ReLU -> view [64,7,7] -> ConvT(64->32,k4,s2,p1) -> BN -> ReLU -> ConvT(32->1,k4,s2,p1) -> tanh.
  PyTorch default inits (= burngan's). BN eps 1e-5, momentum 0.1, running var updated with the
  BIASED batch variance (Burn), training mode whenever G runs on the autodiff device (both the
  critic step's fakes and the generator step), inference (running stats) for sampling.
- D: SN Conv(1->32,k4s2p1) -> LReLU .2 -> SN Conv(32->64) -> LReLU -> flatten 3136 -> SN Linear
  ->1024 -> LReLU = h; logit = SN Linear(1024->1)(h) + <SN(E)[y], h>, E Xavier-uniform [10,1024].
- Spectral norm, burngan convention: matrix view M (conv [c_out, c_in k k], dense Burn layout
  [d_in, d_out] = torch weight^T, embedding [10, 1024]); u drawn N(0,1)/|.|; a training forward
  does v = n(M^T u), u = n(M v), sigma = |M^T u| (u const), W/sigma. Frozen forward (G step): no
  iteration, sigma = |M^T u|.
- Critic step: real batch (epoch-shuffled) + labels; fakes from G (train mode, no grad) with the
  real labels; D(real), D(fake) as two forwards (two power iterations); hinge; Adam.
- G step: fresh z, uniform labels; D frozen; loss -mean D(G(z,y), y); Adam; then EMA with
  beta_t = min(decay, (1+t)/(10+t)) (t = 1-based update index; burngan's default warmup=true),
  averaging parameters AND BN running stats.
"""
import argparse, copy, gzip, json, math, os, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def normalize(x, eps=1e-12):
    return x / x.norm().clamp_min(eps)


class SN(nn.Module):
    """Burngan-convention spectral norm state for a matrix view with `rows` rows."""

    def __init__(self, rows):
        super().__init__()
        self.register_buffer("u", normalize(torch.randn(rows)))

    def forward(self, m, iterate):
        if iterate:
            with torch.no_grad():
                md = m.detach()
                v = normalize(md.t() @ self.u)
                self.u.copy_(normalize(md @ v))
        sigma = (m.t() @ self.u.clone()).norm()
        return m / sigma


class BN(nn.Module):
    """BatchNorm with Burn's semantics (biased variance in the running stats)."""

    def __init__(self, n, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(n))
        self.bias = nn.Parameter(torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x):
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training:
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dims)
            var = x.var(dims, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(mean.detach() * self.momentum)
                self.running_var.mul_(1 - self.momentum).add_(var.detach() * self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        xh = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return xh * self.weight.view(shape) + self.bias.view(shape)


class Gen(nn.Module):
    def __init__(self, latent=100, emb=50, hidden=1024, channels=(64, 32), classes=10, side=7):
        super().__init__()
        self.emb = nn.Embedding(classes, emb)  # N(0,1)
        self.l1 = nn.Linear(latent + emb, hidden)
        self.b1 = BN(hidden)
        self.l2 = nn.Linear(hidden, channels[0] * side * side)
        self.b2 = BN(channels[0] * side * side)
        self.u1 = nn.ConvTranspose2d(channels[0], channels[1], 4, 2, 1)
        self.b3 = BN(channels[1])
        self.u2 = nn.ConvTranspose2d(channels[1], 1, 4, 2, 1)
        self.base = (channels[0], side, side)

    def forward(self, z, y):
        x = torch.cat([z, self.emb(y)], 1)
        x = F.relu(self.b1(self.l1(x)))
        x = F.relu(self.b2(self.l2(x)))
        x = x.view(x.shape[0], *self.base)
        x = F.relu(self.b3(self.u1(x)))
        return torch.tanh(self.u2(x))


class Disc(nn.Module):
    def __init__(self, channels=(32, 64), hidden=1024, classes=10, side=7, projection=True):
        super().__init__()
        self.c1 = nn.Conv2d(1, channels[0], 4, 2, 1)
        self.s1 = SN(channels[0])
        self.c2 = nn.Conv2d(channels[0], channels[1], 4, 2, 1)
        self.s2 = SN(channels[1])
        flat = channels[1] * side * side
        self.h = nn.Linear(flat, hidden)
        self.sh = SN(flat)  # burngan: u over d_in of the [d_in, d_out] matrix
        self.o = nn.Linear(hidden, 1)
        self.so = SN(hidden)
        self.projection = projection
        a = math.sqrt(6.0 / (classes + hidden))
        self.E = nn.Parameter(torch.empty(classes, hidden).uniform_(-a, a))
        self.sE = SN(classes)

    def forward(self, x, y, iterate):
        w = self.c1.weight
        w = self.s1(w.reshape(w.shape[0], -1), iterate).reshape(w.shape)
        x = F.leaky_relu(F.conv2d(x, w, self.c1.bias, 2, 1), 0.2)
        w = self.c2.weight
        w = self.s2(w.reshape(w.shape[0], -1), iterate).reshape(w.shape)
        x = F.leaky_relu(F.conv2d(x, w, self.c2.bias, 2, 1), 0.2)
        x = x.flatten(1)
        wh = self.sh(self.h.weight.t(), iterate)  # [d_in, d_out]
        h = F.leaky_relu(x @ wh + self.h.bias, 0.2)
        wo = self.so(self.o.weight.t(), iterate)
        logit = h @ wo + self.o.bias
        if self.projection:
            E = self.sE(self.E, iterate)
            logit = logit + (E[y] * h).sum(1, keepdim=True)
        return logit


def std_stats(imgs):
    """imgs [80,1,28,28] in [-1,1], rows of 8 per class -> (within-class std, overall std)."""
    x = ((imgs + 1) / 2).reshape(10, 8, -1)
    within = x.std(1, unbiased=False).mean().item()
    overall = x.reshape(80, -1).std(0, unbiased=False).mean().item()
    return within, overall


def run(seed, steps, projection, data, labels, every=100, log=None):
    torch.manual_seed(seed)
    G = Gen()
    D = Disc(projection=projection)
    E = Gen()
    E.load_state_dict(G.state_dict())
    E.eval()
    for p in E.parameters():
        p.requires_grad_(False)
    oG = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.0, 0.9), eps=1e-8)
    oD = torch.optim.Adam(D.parameters(), lr=4e-4, betas=(0.0, 0.9), eps=1e-8)
    gz = torch.randn(80, 100)
    gy = torch.arange(80) // 8
    n, B = data.shape[0], 64
    perm, cur = torch.randperm(n), 0
    rows = []
    t0 = time.time()
    for step in range(steps):
        # critic step
        if cur + B > n:
            rest = perm[cur:]
            perm, cur = torch.randperm(n), B - len(rest)
            idx = torch.cat([rest, perm[:cur]])
        else:
            idx = perm[cur:cur + B]
            cur += B
        real, y = data[idx], labels[idx]
        G.train()
        with torch.no_grad():
            fake = G(torch.randn(B, 100), y)
        lr_ = D(real, y, True)
        lf_ = D(fake, y, True)
        lossD = F.relu(1 - lr_).mean() + F.relu(1 + lf_).mean()
        oD.zero_grad(set_to_none=True)
        lossD.backward()
        oD.step()
        # generator step
        z = torch.randn(B, 100)
        yg = torch.randint(0, 10, (B,))
        for p in D.parameters():
            p.requires_grad_(False)
        lossG = -D(G(z, yg), yg, False).mean()
        for p in D.parameters():
            p.requires_grad_(True)
        oG.zero_grad(set_to_none=True)
        lossG.backward()
        oG.step()
        t = step + 1
        beta = min(0.999, (1 + t) / (10 + t))
        with torch.no_grad():
            sg, se = G.state_dict(), E.state_dict()
            for k in se:
                se[k].mul_(beta).add_(sg[k] * (1 - beta))
        if t % every == 0:
            with torch.no_grad():
                G.eval()
                raw = std_stats(G(gz, gy))
                Gc = copy.deepcopy(G)
                Gc.train()
                raw_bs = std_stats(Gc(gz, gy))  # batch-stat variant, on a copy
                G.train()
                ema = std_stats(E(gz, gy))
            rows.append(dict(seed=seed, projection=projection, step=t, raw_within=raw[0],
                             raw_overall=raw[1], rawbs_within=raw_bs[0], rawbs_overall=raw_bs[1],
                             ema_within=ema[0], ema_overall=ema[1], lossD=lossD.item(),
                             lossG=lossG.item(), secs=time.time() - t0))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def grid_statistic(path):
    """Within-class and overall std of a burngan sample grid: rows of 8 cells of 28 × 28
    pixels after a 2-pixel border, one row per class."""
    from PIL import Image

    im = np.asarray(Image.open(path).convert("L")).astype(np.float64) / 255
    rows, cols = (im.shape[0] - 2) // 30, (im.shape[1] - 2) // 30
    cells = np.array([[im[2 + 30 * r:30 + 30 * r, 2 + 30 * c:30 + 30 * c] for c in range(cols)]
                      for r in range(rows)])
    within = float(np.mean([cells[r].std(axis=0).mean() for r in range(rows)]))
    overall = float(cells.reshape(-1, 28, 28).std(axis=0).mean())
    return dict(grid=path, within=within, overall=overall)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--no-projection", action="store_true")
    ap.add_argument("--out", default="cdcgan_collapse.jsonl")
    ap.add_argument("--grid", help="a burngan sample grid PNG: print its statistic and exit")
    a = ap.parse_args()
    if a.grid:
        print(json.dumps(grid_statistic(a.grid)))
        raise SystemExit(0)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "data", "")
    imgs = load_idx(root + "mnist10k-images-idx3-ubyte.gz")
    labs = load_idx(root + "mnist10k-labels-idx1-ubyte.gz")
    data = torch.from_numpy(imgs.astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    labels = torch.from_numpy(labs.astype(np.int64))
    print(data.shape, labels.shape, data.min().item(), data.max().item(), flush=True)
    with open(a.out, "a") as f:
        for s in [int(x) for x in a.seeds.split(",")]:
            for r in run(s, a.steps, not a.no_projection, data, labels):
                f.write(json.dumps(r) + "\n")
