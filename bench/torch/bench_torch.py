"""PyTorch side of `npm run bench` (run with Debian's /usr/bin/python3 and its python3-torch).

Usage: /usr/bin/python3 bench/torch/bench_torch.py SPEC.json  -> one JSON object on stdout.
The spec is written by bench/torch.ts; its `mode` is one of:
- `probe`   : torch version, threads, mkldnn.
- `losses`  : forward + backward time of each distillation loss at given NHWC shapes.
- `step`    : the distillation training step of a teacher/student built from the tfjs layer graphs
              (bench/torch/keras_graph.py), in NCHW and channels-last memory formats.
- `params`  : trainable parameter counts of the translated graphs.
- `forward` : run a translated graph with given Keras weights on a given NHWC input (for tests).
Progress goes to stderr. Thread count: torch.set_num_threads(spec['threads']) (PyTorch's default
here is 1, which would make the comparison unfair to it).
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __import__('os').path.dirname(__file__))
from keras_graph import KerasGraph, count_trainable  # noqa: E402
from losses import LOSSES  # noqa: E402


def log(msg):
    print(f'[torch] {msg}', file=sys.stderr, flush=True)


def timed(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return {'median': statistics.median(ts), 'min': min(ts), 'max': max(ts), 'all': ts}


def info():
    return {'torch': torch.__version__, 'threads': torch.get_num_threads(),
            'mkldnn': bool(torch.backends.mkldnn.is_available())}


def run_losses(spec):
    out = {}
    for item in spec['items']:
        n, h, w, c = item['shape']
        fn = LOSSES[item['method']]
        torch.manual_seed(0)
        s = torch.randn(n, c, h, w, requires_grad=True)
        t = torch.randn(n, c, h, w)
        opts = dict(item.get('options') or {})
        if item.get('labels'):
            opts['labels'] = torch.randint(0, opts.get('num_classes', 19), (n, h, w))

        def once():
            loss = fn(s, t, **opts)
            loss.backward()
            s.grad = None
            float(loss)

        try:
            out[item['name']] = timed(once, spec['reps'], spec['warmup'])
            log(f"loss {item['name']}: {out[item['name']]['median']:.1f} ms")
        except Exception as e:  # report, do not hide
            out[item['name']] = {'error': f'{type(e).__name__}: {e}'}
    return out


def build(graph):
    return KerasGraph(graph)


def run_params(spec):
    return {k: count_trainable(build(g)) for k, g in spec['graphs'].items()}


def run_step(spec):
    torch.manual_seed(0)
    student = build(spec['student'])
    teacher = build(spec['teacher']) if spec.get('teacher') else None
    res = {'params': {'student': count_trainable(student)}}
    if teacher is not None:
        res['params']['teacher'] = count_trainable(teacher)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    n, h, w = spec['batch'], spec['height'], spec['width']
    nc = spec['num_classes']
    x = torch.randn(n, 3, h, w)
    y = torch.randint(0, nc, (n, h, w))
    y[:, :2] = 255  # a few ignore pixels, as in real labels
    terms = spec.get('terms') or []
    aligners = nn.ModuleDict()
    with torch.no_grad():
        sf, sl = student(x)
        if teacher is not None:
            tf_, tl = teacher(x)
    for i, term in enumerate(terms):
        if term.get('on') == 'feature' and teacher is not None and sf.shape[1] != tf_.shape[1]:
            aligners[str(i)] = nn.Conv2d(sf.shape[1], tf_.shape[1], 1, bias=False)
    res['params']['aligners'] = count_trainable(aligners)
    params = list(student.parameters()) + list(aligners.parameters())
    o = spec.get('optimizer') or {'name': 'sgd', 'lr': 0.01, 'momentum': 0.9, 'weightDecay': 5e-4}
    if o['name'] == 'adam':
        opt = torch.optim.Adam(params, lr=o.get('lr', 1e-3), weight_decay=o.get('weightDecay', 0))
    else:
        opt = torch.optim.SGD(params, lr=o.get('lr', 0.01), momentum=o.get('momentum', 0.9),
                              weight_decay=o.get('weightDecay', 0))

    def step():
        opt.zero_grad(set_to_none=True)
        sf, sl = student(x)
        loss = F.cross_entropy(F.interpolate(sl, size=(h, w), mode='bilinear', align_corners=False), y,
                               ignore_index=255)
        if teacher is not None and terms:
            with torch.no_grad():
                tf_, tl = teacher(x)
            for i, term in enumerate(terms):
                s_ = sl if term.get('on', 'logits') == 'logits' else sf
                t_ = tl if term.get('on', 'logits') == 'logits' else tf_
                if str(i) in aligners:
                    s_ = aligners[str(i)](s_)
                opts = {k: v for k, v in term.items() if k not in ('method', 'on', 'weight')}
                loss = loss + term.get('weight', 1.0) * LOSSES[term['method']](s_, t_, **opts)
        loss.backward()
        opt.step()
        return float(loss)

    def teacher_fwd():
        with torch.no_grad():
            teacher(x)

    res['step'] = {}
    for fmt in spec.get('formats', ['nchw', 'channels_last']):
        if fmt == 'channels_last':
            student.to(memory_format=torch.channels_last)
            aligners.to(memory_format=torch.channels_last)
            if teacher is not None:
                teacher.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        log(f'step {fmt}: {n}x{h}x{w}, {spec["reps"]} steps')
        losses = []
        r = timed(lambda: losses.append(step()), spec['reps'], spec['warmup'])
        r['loss_first'], r['loss_last'] = losses[0], losses[-1]
        res['step'][fmt] = r
        if teacher is not None:
            res.setdefault('teacher_forward', {})[fmt] = timed(teacher_fwd, max(2, spec['reps'] // 2), 1)
        log(f"step {fmt}: median {r['median']:.1f} ms")
    return res


def run_forward(spec):
    import numpy as np
    g = build(spec['graph'])
    g.load_keras_weights({k: [np.asarray(a, dtype=np.float32) for a in v] for k, v in spec['weights'].items()})
    g.train(bool(spec.get('training', False)))
    x = torch.from_numpy(np.asarray(spec['input'], dtype=np.float32)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        outs = g(x)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return {'outputs': [o.permute(0, 2, 3, 1).tolist() if o.dim() == 4 else o.tolist() for o in outs],
            'params': count_trainable(g)}


def main():
    spec = json.load(open(sys.argv[1]))
    threads = int(spec.get('threads', 1))
    torch.set_num_threads(threads)
    mode = spec['mode']
    result = {'info': info()}
    if mode == 'probe':
        pass
    elif mode == 'losses':
        result['losses'] = run_losses(spec)
    elif mode == 'step':
        result.update(run_step(spec))
    elif mode == 'params':
        result['params'] = run_params(spec)
    elif mode == 'forward':
        result.update(run_forward(spec))
    else:
        raise SystemExit(f'unknown mode {mode!r}')
    print(json.dumps(result))


if __name__ == '__main__':
    main()
