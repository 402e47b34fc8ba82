"""PyTorch side of `npm run bench` (run with Debian's /usr/bin/python3 and its python3-torch).

A worker: reads one JSON command per line on stdin, answers one JSON line on stdout, so that the
Node side can interleave PyTorch and tfjs measurements (on a shared, noisy machine both then see
the same load). Progress and errors go to stderr; an error answers {"error": "..."}.

Commands ({"cmd": ...}):
- init      {threads}: torch.set_num_threads (PyTorch's default here is 1: set it to the tfjs count).
- loss      {name, method, shape [N,H,W,C], options, labels, reps, warmup, budget_ms}: forward + backward of
            one distillation loss (bench/torch/losses.py), student requires grad, teacher detached.
- params    {graphs: {name: graph}}: trainable parameter counts of translated tfjs graphs.
- build_step {student, teacher, batch, height, width, num_classes, terms, optimizer}: the KD step state.
- run_step  {format: nchw|channels_last, reps, warmup}: timed steps of the built state.
- teacher_forward {format, reps}: inference of the teacher alone.
- profile_step {format, top}: one step under torch.autograd.profiler, ops by self CPU time.
- forward   {graph, weights, input, training}: outputs of a translated graph with given Keras weights.
- max_rss   {}: peak resident set size of this worker process so far (MB, getrusage ru_maxrss).
- exit
Every timing answer: {median, min, max, all (ms wall), cpu_median (ms process CPU time per call)}.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from keras_graph import KerasGraph, count_trainable  # noqa: E402
from losses import LOSSES, NEEDS_LABELS  # noqa: E402


def log(msg):
    print(f'[torch] {msg}', file=sys.stderr, flush=True)


def timed(fn, reps, warmup, budget_ms=None):
    last = 0.0
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        last = (time.perf_counter() - t0) * 1e3
    if budget_ms and last > 0:
        reps = max(min(reps, 3), min(reps, int(budget_ms // last)))
    ts, cpu = [], []
    for _ in range(reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {'median': statistics.median(ts), 'min': min(ts), 'max': max(ts), 'all': ts,
            'cpu_median': statistics.median(cpu)}


def info():
    return {'torch': torch.__version__, 'threads': torch.get_num_threads(),
            'mkldnn': bool(torch.backends.mkldnn.is_available())}


def cmd_loss(c):
    n, h, w, ch = c['shape']
    fn = LOSSES[c['method']]
    torch.manual_seed(0)
    s = torch.randn(n, ch, h, w, requires_grad=True)
    t = torch.randn(n, ch, h, w)
    opts = dict(c.get('options') or {})
    if c.get('labels'):
        opts['labels'] = torch.randint(0, opts.get('numClasses', 19), (n, h, w))

    def once():
        loss = fn(s, t, **opts)
        loss.backward()
        s.grad = None
        float(loss)

    return timed(once, c['reps'], c['warmup'], c.get('budget_ms'))


STATE = {}


def cmd_build_step(c):
    torch.manual_seed(0)
    student = KerasGraph(c['student'])
    teacher = KerasGraph(c['teacher']) if c.get('teacher') else None
    params = {'student': count_trainable(student)}
    if teacher is not None:
        params['teacher'] = count_trainable(teacher)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
    n, h, w = c['batch'], c['height'], c['width']
    nc = c['num_classes']
    x = torch.randn(n, 3, h, w)
    y = torch.randint(0, nc, (n, h, w))
    y[:, :2] = 255  # a band of ignore pixels, as in real labels
    terms = c.get('terms') or []
    aligners = nn.ModuleDict()
    student.eval()  # channel probe only (train-mode BN rejects 1x1 maps of a single image)
    with torch.no_grad():
        sf, sl = student(x[:1])
        if teacher is not None:
            tf_, tl = teacher(x[:1])
    student.train()
    for i, term in enumerate(terms):
        if term.get('on') == 'feature' and teacher is not None and sf.shape[1] != tf_.shape[1]:
            aligners[str(i)] = nn.Conv2d(sf.shape[1], tf_.shape[1], 1, bias=False)
    params['aligners'] = count_trainable(aligners)
    ps = list(student.parameters()) + list(aligners.parameters())
    o = c.get('optimizer') or {'name': 'sgd', 'lr': 0.01, 'momentum': 0.9, 'weightDecay': 5e-4}
    if o['name'] == 'adam':
        opt = torch.optim.Adam(ps, lr=o.get('lr', 1e-3), weight_decay=o.get('weightDecay', 0))
    else:
        opt = torch.optim.SGD(ps, lr=o.get('lr', 0.01), momentum=o.get('momentum', 0.9), weight_decay=o.get('weightDecay', 0))
    STATE.clear()
    STATE.update(student=student, teacher=teacher, aligners=aligners, opt=opt, x=x, y=y, terms=terms, hw=(h, w),
                 fmt='nchw', losses=[])
    return {'params': params}


def set_format(fmt):
    if STATE['fmt'] == fmt:
        return
    mf = torch.channels_last if fmt == 'channels_last' else torch.contiguous_format
    for k in ('student', 'teacher', 'aligners'):
        if STATE[k] is not None:
            STATE[k].to(memory_format=mf)
    STATE['x'] = STATE['x'].contiguous(memory_format=mf)
    STATE['fmt'] = fmt


def one_step():
    st = STATE
    student, teacher, aligners, opt, x, y, terms = (st[k] for k in ('student', 'teacher', 'aligners', 'opt', 'x', 'y', 'terms'))
    h, w = st['hw']
    opt.zero_grad(set_to_none=True)
    tf_ = tl = None
    if teacher is not None and terms:
        with torch.no_grad():
            tf_, tl = teacher(x)
    sf, sl = student(x)
    loss = F.cross_entropy(F.interpolate(sl, size=(h, w), mode='bilinear', align_corners=True), y, ignore_index=255)
    for i, term in enumerate(terms):
        on = term.get('on', 'logits')
        s_ = sl if on == 'logits' else sf
        t_ = tl if on == 'logits' else tf_
        if str(i) in aligners:
            s_ = aligners[str(i)](s_)
        opts = {k: v for k, v in term.items() if k not in ('method', 'on', 'weight', 'aligner')}
        if term['method'] in NEEDS_LABELS:
            opts['labels'] = y
        loss = loss + term.get('weight', 1.0) * LOSSES[term['method']](s_, t_, **opts)
    loss.backward()
    opt.step()
    st['losses'].append(float(loss))


def cmd_run_step(c):
    set_format(c.get('format', 'nchw'))
    STATE['student'].train()
    STATE['losses'] = []
    r = timed(one_step, c['reps'], c.get('warmup', 0))
    r['loss_first'], r['loss_last'] = STATE['losses'][0], STATE['losses'][-1]
    return r


def cmd_profile_step(c):
    """One step under torch.autograd.profiler: ops by self CPU time (ms), largest first."""
    set_format(c.get('format', 'nchw'))
    STATE['student'].train()
    with torch.autograd.profiler.profile() as prof:
        one_step()
    rows = [{'name': e.key, 'ms': e.self_cpu_time_total / 1e3, 'calls': e.count} for e in prof.key_averages()]
    rows.sort(key=lambda r: -r['ms'])
    total = sum(r['ms'] for r in rows)
    return {'total_ms': total, 'ops': rows[:int(c.get('top', 15))]}


def cmd_teacher_forward(c):
    set_format(c.get('format', 'nchw'))

    def fwd():
        with torch.no_grad():
            STATE['teacher'](STATE['x'])

    return timed(fwd, c['reps'], c.get('warmup', 1))


def cmd_forward(c):
    import numpy as np
    g = KerasGraph(c['graph'])
    g.load_keras_weights({k: [np.asarray(a, dtype=np.float32) for a in v] for k, v in c['weights'].items()})
    g.train(bool(c.get('training', False)))
    x = torch.from_numpy(np.asarray(c['input'], dtype=np.float32)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        outs = g(x)
    if not isinstance(outs, (list, tuple)):
        outs = [outs]
    return {'outputs': [o.permute(0, 2, 3, 1).tolist() if o.dim() == 4 else o.tolist() for o in outs],
            'params': count_trainable(g)}


COMMANDS = {
    'init': lambda c: (torch.set_num_threads(int(c.get('threads', 1))), info())[1],
    'loss': cmd_loss,
    'params': lambda c: {'params': {k: count_trainable(KerasGraph(g)) for k, g in c['graphs'].items()}},
    'build_step': cmd_build_step,
    'run_step': cmd_run_step,
    'teacher_forward': cmd_teacher_forward,
    'profile_step': cmd_profile_step,
    'forward': cmd_forward,
    'max_rss': lambda c: {'max_rss_mb': __import__('resource').getrusage(__import__('resource').RUSAGE_SELF).ru_maxrss / 1024.0},
}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        c = json.loads(line)
        if c.get('cmd') == 'exit':
            break
        try:
            fn = COMMANDS.get(c.get('cmd'))
            if fn is None:
                raise ValueError(f"unknown command {c.get('cmd')!r}")
            out = fn(c)
        except Exception as e:  # answered, not hidden: the Node side reports it
            import traceback
            traceback.print_exc(file=sys.stderr)
            out = {'error': f'{type(e).__name__}: {e}'}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
