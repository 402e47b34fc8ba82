"""The distillation losses of lib/distill written in PyTorch (NCHW), for the timing ratios.

Same computation as the TypeScript losses (see ../shared/paper/loss-conventions.md): every KL is
KL(teacher || student) with the teacher detached; T is the temperature.
These are timing twins, not the golden-value references (those live beside test/fixtures/distill).
"""
import torch
import torch.nn.functional as F


def cwd(s, t, temperature=4.0, **_):
    """Channel-wise distillation (Eq. 3-4): softmax over H*W per channel; KL; x T^2 / (N*C)."""
    n, c, h, w = s.shape
    T = temperature
    ls = F.log_softmax(s.reshape(n * c, h * w) / T, dim=1)
    lt = F.log_softmax(t.reshape(n * c, h * w) / T, dim=1)
    return (lt.exp() * (lt - ls)).sum() * (T * T) / (n * c)


def pi(s, t, temperature=1.0, **_):
    """Pixel-wise KD: softmax over channels per pixel; KL; x T^2 / (N*H*W)."""
    n, c, h, w = s.shape
    T = temperature
    ls = F.log_softmax(s / T, dim=1)
    lt = F.log_softmax(t / T, dim=1)
    return (lt.exp() * (lt - ls)).sum() * (T * T) / (n * h * w)


def _attention(x):
    a = x.pow(2).mean(dim=1).reshape(x.shape[0], -1)
    return F.normalize(a, dim=1)


def at(s, t, **_):
    """Attention transfer (p = 2): squared difference of L2-normalised attention maps, mean."""
    return (_attention(s) - _attention(t)).pow(2).mean()


def _similarity(x):
    n, c = x.shape[:2]
    x = F.normalize(x.reshape(n, c, -1), dim=1)
    return torch.bmm(x.transpose(1, 2), x)


def pa(s, t, pool=2, **_):
    """Pairwise affinity (Structured KD): max-pool, L2-normalise per pixel, (HW)x(HW) similarity, MSE."""
    if pool and pool > 1:
        s = F.max_pool2d(s, pool, pool, ceil_mode=True)
        t = F.max_pool2d(t, pool, pool, ceil_mode=True)
    return (_similarity(s) - _similarity(t)).pow(2).mean()


def local(s, t, **_):
    """Local affinity: squared Euclidean distance of each pixel to its 8 neighbours; MSE of the maps."""
    def maps(x):
        p = F.pad(x, (1, 1, 1, 1), mode='replicate')
        h, w = x.shape[2:]
        outs = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == 0 and dx == 0:
                    continue
                nb = p[:, :, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                outs.append((x - nb).pow(2).sum(dim=1))
        return torch.stack(outs, 1)
    return (maps(s) - maps(t)).pow(2).mean()


def ifvd(s, t, labels=None, num_classes=19, ignore_index=255, **_):
    """IFVD: class prototypes from the labels; per-pixel cosine to its prototype; squared difference."""
    n, c, h, w = s.shape
    lab = labels
    if lab.shape[-2:] != (h, w):
        lab = F.interpolate(lab[:, None].float(), size=(h, w), mode='nearest')[:, 0].long()
    valid = lab != ignore_index
    onehot = F.one_hot(torch.where(valid, lab, torch.zeros_like(lab)), num_classes).permute(0, 3, 1, 2).float()
    onehot = onehot * valid[:, None].float()

    def cos_map(x):
        count = onehot.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)             # N,K,1,1
        proto = torch.einsum('nkhw,nchw->nkc', onehot, x) / count.reshape(n, num_classes, 1)
        pix_proto = torch.einsum('nkhw,nkc->nchw', onehot, proto)
        return F.cosine_similarity(x, pix_proto, dim=1, eps=1e-8)

    diff = (cos_map(s) - cos_map(t)).pow(2) * valid.float()
    return diff.sum() / valid.float().sum().clamp_min(1.0)


def mse(s, t, **_):
    """L2 without normalisation: squared error summed / (N*H*W)."""
    n, c, h, w = s.shape
    return (s - t).pow(2).sum() / (n * h * w)


def channel_norm_mse(s, t, temperature=1.0, **_):
    """Channel softmax as CWD, squared error summed / (N*C)."""
    n, c, h, w = s.shape
    ps = F.softmax(s.reshape(n * c, -1) / temperature, dim=1)
    pt = F.softmax(t.reshape(n * c, -1) / temperature, dim=1)
    return (ps - pt).pow(2).sum() / (n * c)


def channel_bhattacharyya(s, t, temperature=1.0, **_):
    """Bhattacharyya distance of the channel distributions, mean over N*C."""
    n, c, h, w = s.shape
    ps = F.softmax(s.reshape(n * c, -1) / temperature, dim=1)
    pt = F.softmax(t.reshape(n * c, -1) / temperature, dim=1)
    bc = (ps * pt).clamp_min(1e-12).sqrt().sum(dim=1)
    return (-bc.clamp_min(1e-12).log()).mean()


def channel_mean_mse(s, t, **_):
    """Channel-mean ablation: mean over H*W per channel; squared error summed / (N*C)."""
    n, c = s.shape[:2]
    return (s.mean(dim=(2, 3)) - t.mean(dim=(2, 3))).pow(2).sum() / (n * c)


def spatial_mse(s, t, temperature=1.0, **_):
    """Softmax over channels per pixel, squared error summed / (N*H*W)."""
    n, c, h, w = s.shape
    return (F.softmax(s / temperature, dim=1) - F.softmax(t / temperature, dim=1)).pow(2).sum() / (n * h * w)


def spatial_bhattacharyya(s, t, temperature=1.0, **_):
    """Bhattacharyya distance of the per-pixel channel distributions, mean over N*H*W."""
    ps = F.softmax(s / temperature, dim=1)
    pt = F.softmax(t / temperature, dim=1)
    bc = (ps * pt).clamp_min(1e-12).sqrt().sum(dim=1)
    return (-bc.clamp_min(1e-12).log()).mean()


LOSSES = {
    'cwd': cwd,
    'pi': pi,
    'at': at,
    'pa': pa,
    'local': local,
    'ifvd': ifvd,
    'mse': mse,
    'channelNormMSE': channel_norm_mse,
    'channelBhattacharyya': channel_bhattacharyya,
    'channelMeanMSE': channel_mean_mse,
    'spatialMSE': spatial_mse,
    'spatialBhattacharyya': spatial_bhattacharyya,
}
