"""PyTorch reference of every lib/distill loss (NCHW), the one module behind both
- the golden values of test/fixtures/distill/make_golden.py (called in float64), and
- the PyTorch twins of the bench (bench/torch/bench_torch.py, float32, for the timing ratios).

Each function is written the way the public implementation it follows writes it (named beside it) and
takes the lib/distill registry options under their TypeScript names (`temperature`, `detachNorm`, …),
with the same defaults; `LOSSES` maps each registry name to its function. An unknown option is a
TypeError, as it is an error in lib/distill. Every KL is KL(teacher || student); the teacher is not
detached here: the golden script records that the references would send it gradient, and the bench
passes a teacher without grad. LOCAL and Bhattacharyya are project-defined conventions (lib/distill/README.md).
test/distill/reference.test.ts checks that LOSSES and NEEDS_LABELS match the registry and that every
loss equals its lib/distill twin at the default options.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def cwd(s, t, temperature=4.0):
    """Channel-wise distillation (Eq. 3-4), mmrazor ChannelWiseDivergence: softmax over H*W per channel,
    KL(t || s) x T^2 / (N*C), with log_softmax."""
    N, C, H, W = s.shape
    tau = temperature
    pt = F.softmax(t.reshape(-1, H * W) / tau, dim=1)
    loss = torch.sum(pt * F.log_softmax(t.reshape(-1, H * W) / tau, dim=1)
                     - pt * F.log_softmax(s.reshape(-1, H * W) / tau, dim=1)) * tau ** 2
    return loss / (C * N)


def pi(s, t, temperature=1.0):
    """Pixel-wise KD, CIRKD losses/kd.py: softmax over C per pixel, KL batchmean over N*H*W rows, x T^2."""
    C = s.shape[1]
    T = temperature
    ps = s.permute(0, 2, 3, 1).reshape(-1, C)
    pt = t.permute(0, 2, 3, 1).reshape(-1, C)
    return F.kl_div(F.log_softmax(ps / T, dim=1), F.softmax(pt / T, dim=1), reduction='batchmean') * T ** 2


def at(s, t, p=2):
    """Attention transfer, CIRKD losses/at.py (p = 2 only): L2-normalised mean_C(x^2), mean squared difference."""
    if p != 2:
        raise ValueError(f'at: p must be 2, got {p}')

    def att(x):
        return F.normalize(x.pow(2).mean(1).view(x.size(0), -1))
    return (att(s) - att(t)).pow(2).mean()


def local(s, t):
    """LOCAL (project-defined): distances to the 8 neighbours inside the image, ordered pairs, mean of squared diff."""
    def dists(f):
        N, C, H, W = f.shape
        out = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                ys = slice(max(0, -dy), H - max(0, dy))
                xs = slice(max(0, -dx), W - max(0, dx))
                yn = slice(max(0, dy), H + min(0, dy))
                xn = slice(max(0, dx), W + min(0, dx))
                d = (f[:, :, ys, xs] - f[:, :, yn, xn]).pow(2).sum(1).sqrt()
                out.append(d.reshape(N, -1))
        return torch.cat(out, 1)
    ds, dt = dists(s), dists(t)
    N, _, H, W = s.shape
    assert ds.shape[1] == 8 * H * W - 6 * H - 6 * W + 4
    return (ds - dt).pow(2).mean()


def pa_window(h, w, scale=0.5, window=None):
    """The max-pool window of PA: `window`, else (int(H*scale), int(W*scale)) as SKD."""
    return tuple(window) if window else (int(h * scale), int(w * scale))


def pa_pool(x, kernel):
    """SKD's MaxPool2d(kernel, stride=kernel, ceil_mode=True)."""
    return nn.MaxPool2d(kernel_size=kernel, stride=kernel, padding=0, ceil_mode=True)(x)


def _skd_similarity(feat):  # SKD utils: divide by the (detached) per-pixel L2 norm + 1e-8
    tmp = ((((feat ** 2).sum(dim=1)) ** 0.5).reshape(feat.shape[0], 1, feat.shape[2], feat.shape[3]) + 1e-8).detach()
    feat = (feat / tmp).reshape(feat.shape[0], feat.shape[1], -1)
    return torch.einsum('icm,icn->imn', [feat, feat])


def _cirkd_similarity(feat):  # CIRKD: F.normalize (gradient through the norm)
    feat = F.normalize(feat, p=2, dim=1).reshape(feat.shape[0], feat.shape[1], -1)
    return torch.einsum('icm,icn->imn', [feat, feat])


def pa(s, t, scale=0.5, window=None, detachNorm=True):
    """Pairwise affinity, SKD CriterionPairWiseforWholeFeatAfterPool (detachNorm) or CIRKD's variant."""
    kernel = pa_window(s.shape[2], s.shape[3], scale, window)
    ps, pt = pa_pool(s, kernel), pa_pool(t, kernel)
    if detachNorm:
        sim_err = ((_skd_similarity(pt) - _skd_similarity(ps)) ** 2) / ((pt.shape[-1] * pt.shape[-2]) ** 2) / pt.shape[0]
        return sim_err.sum()
    return (_cirkd_similarity(pt) - _cirkd_similarity(ps)).pow(2).mean()


def resize_labels(labels, size):
    """Labels [N, h, w] to `size` by nearest neighbour (nn.Upsample, as CIRKD/TorchDistiller), as float."""
    return nn.Upsample(size, mode='nearest')(labels.unsqueeze(1).double())[:, 0]


def ifvd(s, t, labels=None, numClasses=19, ignoreIndex=255, countIgnored=True, validateLabels=True):
    """IFVD, CIRKD/TorchDistiller CriterionIFV: each pixel's cosine to its class prototype (mean feature of the
    class, /(count + 1e-6)); pixels of no class (ignore) keep their own feature (cosine 1).
    countIgnored: mean over all pixels (the reference's MSELoss); else over valid pixels only.
    Written with one-hot einsums instead of the reference's loop over classes (same numbers).
    `ignoreIndex` and `validateLabels` have no effect here: a label outside 0..K-1 simply has no class."""
    if labels is None:
        raise ValueError('ifvd: labels are required')
    K = numClasses
    tar = resize_labels(labels, (s.shape[2], s.shape[3]))
    onehot = (tar.unsqueeze(1) == torch.arange(K, dtype=tar.dtype).view(1, K, 1, 1)).to(s.dtype)   # N,K,H,W
    none = 1 - onehot.sum(1, keepdim=True)

    def to_proto(x):
        proto = torch.einsum('nkhw,nchw->nkc', onehot, x) / (onehot.sum((2, 3)).unsqueeze(-1) + 1e-6)
        return torch.einsum('nkhw,nkc->nchw', onehot, proto) + none * x

    cos = nn.CosineSimilarity(dim=1)
    sim_s, sim_t = cos(s, to_proto(s)), cos(t, to_proto(t))
    if countIgnored:
        return nn.MSELoss()(sim_s, sim_t)
    valid = (tar < K).to(s.dtype)
    return ((sim_s - sim_t) ** 2 * valid).sum() / valid.sum().clamp(min=1)


def mse(s, t, reduction='mean'):
    """L2 without normalisation: 'mean' = nn.MSELoss (N*H*W*C), 'pixel' = sum / (N*H*W) (Table 4 row), 'sum'."""
    if reduction == 'mean':
        return nn.MSELoss()(s, t)
    if reduction == 'pixel':
        return ((s - t) ** 2).sum() / (s.shape[0] * s.shape[2] * s.shape[3])
    if reduction == 'sum':
        return ((s - t) ** 2).sum()
    raise ValueError(f"mse: reduction must be 'mean', 'pixel' or 'sum', got {reduction!r}")


def _channel_softmax(x, T):  # softmax over H*W of each (n, c): [N, C, HW]
    N, C, H, W = x.shape
    return F.softmax(x.reshape(N, C, H * W) / T, dim=2)


def channel_mse(s, t, temperature=1.0):
    """TorchDistiller CriterionCWD('channel', 'mse'): squared error of channel softmaxes, sum / (N*C)."""
    N, C = s.shape[:2]
    return ((_channel_softmax(s, temperature) - _channel_softmax(t, temperature)) ** 2).sum() / (N * C)


def bhattacharyya(s, t, temperature=1.0):
    """Project-defined: sum_{n,c} -ln sum_i sqrt(ps * pt) / (N*C) over channel softmaxes."""
    N, C = s.shape[:2]
    bc = torch.sqrt(_channel_softmax(s, temperature) * _channel_softmax(t, temperature)).sum(2)
    return (-torch.log(bc)).sum() / (N * C)


def spatial_mse(s, t, temperature=1.0):
    """Table 4 grid (spatial x mse): squared error of per-pixel channel softmaxes, sum / (N*H*W)."""
    N, C, H, W = s.shape
    T = temperature
    return ((F.softmax(s / T, dim=1) - F.softmax(t / T, dim=1)) ** 2).sum() / (N * H * W)


def spatial_bhattacharyya(s, t, temperature=1.0):
    """Table 4 grid (spatial x bhattacharyya): sum over pixels of -ln sum_c sqrt(ps * pt) / (N*H*W)."""
    N, C, H, W = s.shape
    T = temperature
    bc = torch.sqrt(F.softmax(s / T, dim=1) * F.softmax(t / T, dim=1)).sum(1)
    return (-torch.log(bc)).sum() / (N * H * W)


def channel_mean_mse(s, t):
    """Official CWD code norm_type='channel_mean', divergence='mse': sum (mean_HW s - mean_HW t)^2 / (N*C)."""
    N, C = s.shape[:2]
    return ((s.mean((2, 3)) - t.mean((2, 3))) ** 2).sum() / (N * C)


# registry name (lib/distill/registry.ts) -> reference, in the registry's order
LOSSES = {
    'cwd': cwd,
    'pi': pi,
    'spatial-kl': pi,
    'at': at,
    'local': local,
    'pa': pa,
    'ifvd': ifvd,
    'mse': mse,
    'channel-mse': channel_mse,
    'spatial-mse': spatial_mse,
    'bhattacharyya': bhattacharyya,
    'spatial-bhattacharyya': spatial_bhattacharyya,
    'channel-mean-mse': channel_mean_mse,
}

# the losses that take `labels` (lib/distill descriptor needsLabels)
NEEDS_LABELS = {'ifvd'}
