"""Build a PyTorch module from the layer graph of a TensorFlow.js layers model.

The bench exports each tfjs model (teacher, student) as a JSON graph (`bench/graph.ts`):
layers in topological order with their Keras class name, config, inbound layers, output shape
and weight shapes. This file turns that graph into an equivalent `torch.nn.Module`, so that the
PyTorch side of the benchmark runs *the same architecture* as the tfjs side, whatever the model
presets are. Parameter counts are compared (and must match) before any timing.

Data flows NCHW inside torch (optionally in channels-last memory format); the Keras configs
are NHWC and translated here. TF 'same' padding is reproduced exactly (asymmetric padding via
F.pad when needed). Unknown layer classes raise an error naming the layer and its config.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


def _pair(v):
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[1])) if len(v) > 1 else (int(v[0]), int(v[0]))
    return (int(v), int(v))


def _same_pads(size, k, s, d):
    """TF 'same' padding (before, after) for one spatial dim."""
    out = math.ceil(size / s)
    eff = (k - 1) * d + 1
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _activation(name):
    name = (name or 'linear').lower()
    table = {
        'linear': None,
        'relu': F.relu,
        'relu6': F.relu6,
        'sigmoid': torch.sigmoid,
        'tanh': torch.tanh,
        'elu': F.elu,
        'selu': F.selu,
        'swish': F.silu,
        'softplus': F.softplus,
        'softmax': lambda x: F.softmax(x, dim=1),
    }
    if name not in table:
        raise ValueError(f'activation {name!r} is not supported by bench/torch/keras_graph.py')
    return table[name]


class ConvSame(nn.Module):
    """Conv2d / depthwise conv with TF padding semantics (padding worked out per input size)."""

    def __init__(self, cin, cout, k, s, d, padding, groups, bias, in_hw=None):
        super().__init__()
        if padding not in ('same', 'valid'):
            raise ValueError(f'padding {padding!r} not supported')
        self.k, self.s, self.d, self.padding = k, s, d, padding
        self.conv = nn.Conv2d(cin, cout, k, s, 0, d, groups=groups, bias=bias)
        self._pads = {}

    def _plan(self, hw):
        if hw not in self._pads:
            ph = _same_pads(hw[0], self.k[0], self.s[0], self.d[0])
            pw = _same_pads(hw[1], self.k[1], self.s[1], self.d[1])
            if ph[0] == ph[1] and pw[0] == pw[1]:
                self._pads[hw] = ((ph[0], pw[0]), None)
            else:
                self._pads[hw] = ((0, 0), (pw[0], pw[1], ph[0], ph[1]))
        return self._pads[hw]

    def forward(self, x):
        if self.padding == 'valid':
            return self.conv(x)
        sym, pre = self._plan(tuple(x.shape[2:]))
        if pre is not None:
            x = F.pad(x, pre)
        return F.conv2d(x, self.conv.weight, self.conv.bias, self.s, sym, self.d, self.conv.groups)


class Pool(nn.Module):
    def __init__(self, kind, k, s, padding, in_hw=None):
        super().__init__()
        self.kind, self.k, self.s, self.padding = kind, k, s, padding
        self._pads = {}

    def forward(self, x):
        pad, pre = (0, 0), None
        if self.padding == 'same':
            hw = tuple(x.shape[2:])
            if hw not in self._pads:
                ph = _same_pads(hw[0], self.k[0], self.s[0], 1)
                pw = _same_pads(hw[1], self.k[1], self.s[1], 1)
                if ph[0] == ph[1] and pw[0] == pw[1]:
                    self._pads[hw] = ((ph[0], pw[0]), None)
                else:
                    self._pads[hw] = ((0, 0), (pw[0], pw[1], ph[0], ph[1]))
            pad, pre = self._pads[hw]
        if pre is not None:
            x = F.pad(x, pre, value=float('-inf') if self.kind == 'max' else 0.0)
        if self.kind == 'max':
            return F.max_pool2d(x, self.k, self.s, pad)
        return F.avg_pool2d(x, self.k, self.s, pad, count_include_pad=False)


class Lambda(nn.Module):
    def __init__(self, fn, desc=''):
        super().__init__()
        self.fn = fn
        self.desc = desc

    def forward(self, *xs):
        return self.fn(*xs)

    def extra_repr(self):
        return self.desc


def _nchw(shape):
    """Keras NHWC shape (with None batch) → (C, H, W) or None."""
    if shape is None or len(shape) != 4:
        return None
    return shape[3], shape[1], shape[2]


class KerasGraph(nn.Module):
    """A torch module that runs the layer graph exported from tfjs (see module docstring)."""

    def __init__(self, graph):
        super().__init__()
        self.graph_name = graph.get('name', 'model')
        self.order = []
        self.inbound = {}
        self.input_names = list(graph['inputs'])
        self.outputs = [tuple(o) for o in graph['outputs']]  # (layer name, tensor index)
        self.mods = nn.ModuleDict()
        self.weight_map = {}  # keras weight name -> (torch module path, kind)
        self.unsupported = []
        for layer in graph['layers']:
            name = layer['name']
            self.order.append(name)
            self.inbound[name] = [(i[0], int(i[2]) if len(i) > 2 else 0) for i in layer['inbound']]
            mod = self._build(layer)
            if mod is not None:
                self.mods[self._key(name)] = mod
        if self.unsupported:
            raise ValueError('bench/torch/keras_graph.py cannot translate these layers: ' + '; '.join(self.unsupported))

    @staticmethod
    def _key(name):
        return name.replace('.', '_').replace('/', '_')

    STANDARD = {'InputLayer', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'BatchNormalization', 'Activation', 'ReLU',
                'LeakyReLU', 'Add', 'Multiply', 'Concatenate', 'MaxPooling2D', 'AveragePooling2D',
                'GlobalAveragePooling2D', 'UpSampling2D', 'ZeroPadding2D', 'Cropping2D', 'Dropout', 'SpatialDropout2D'}

    def _build(self, layer):
        cls = layer['className']
        if cls not in self.STANDARD:
            # a project subclass of a standard layer (same config and weights, e.g. FastBatchNorm, AtrousConv2D)
            for base in layer.get('baseClassNames') or []:
                if base in self.STANDARD:
                    cls = base
                    break
        cfg = layer.get('config', {})
        in_shapes = layer.get('inputShapes') or []
        in_shape = in_shapes[0] if in_shapes else None
        out_shape = layer.get('outputShape')
        chw = _nchw(in_shape)
        if cls == 'InputLayer':
            return None
        if cls == 'Conv2D':
            cin = chw[0]
            mod = nn.Sequential()
            conv = ConvSame(cin, cfg['filters'], _pair(cfg['kernelSize']), _pair(cfg.get('strides', 1)),
                            _pair(cfg.get('dilationRate', 1)), cfg.get('padding', 'valid'), 1,
                            cfg.get('useBias', True), chw[1:])
            mod.add_module('conv', conv)
            act = _activation(cfg.get('activation'))
            if act is not None:
                mod.add_module('act', Lambda(act, cfg.get('activation')))
            return mod
        if cls == 'DepthwiseConv2D':
            cin = chw[0]
            mult = cfg.get('depthMultiplier', 1)
            mod = nn.Sequential()
            mod.add_module('conv', ConvSame(cin, cin * mult, _pair(cfg['kernelSize']), _pair(cfg.get('strides', 1)),
                                            _pair(cfg.get('dilationRate', 1)), cfg.get('padding', 'valid'), cin,
                                            cfg.get('useBias', True), chw[1:]))
            act = _activation(cfg.get('activation'))
            if act is not None:
                mod.add_module('act', Lambda(act, cfg.get('activation')))
            return mod
        if cls == 'SeparableConv2D':
            cin = chw[0]
            mult = cfg.get('depthMultiplier', 1)
            k, s, d = _pair(cfg['kernelSize']), _pair(cfg.get('strides', 1)), _pair(cfg.get('dilationRate', 1))
            mod = nn.Sequential()
            mod.add_module('dw', ConvSame(cin, cin * mult, k, s, d, cfg.get('padding', 'valid'), cin, False, chw[1:]))
            mod.add_module('pw', nn.Conv2d(cin * mult, cfg['filters'], 1, bias=cfg.get('useBias', True)))
            act = _activation(cfg.get('activation'))
            if act is not None:
                mod.add_module('act', Lambda(act, cfg.get('activation')))
            return mod
        if cls == 'BatchNormalization':
            axis = cfg.get('axis', -1)
            if axis not in (-1, 3):
                self.unsupported.append(f"{layer['name']} (BatchNormalization axis {axis})")
                return None
            bn = nn.BatchNorm2d(chw[0], eps=cfg.get('epsilon', 1e-3), momentum=1 - cfg.get('momentum', 0.99),
                                affine=True)
            if not cfg.get('scale', True):
                bn.weight.requires_grad_(False)
            if not cfg.get('center', True):
                bn.bias.requires_grad_(False)
            # affine params that Keras does not have are frozen so the trainable counts stay comparable
            return bn
        if cls == 'Activation':
            act = _activation(cfg.get('activation'))
            return Lambda(act if act is not None else (lambda x: x), cfg.get('activation'))
        if cls == 'ReLU':
            mx = cfg.get('maxValue')
            if mx is None:
                return Lambda(F.relu, 'relu')
            return Lambda(lambda x, m=float(mx): torch.clamp(x, 0, m), f'relu max {mx}')
        if cls == 'LeakyReLU':
            a = cfg.get('alpha', 0.3)
            return Lambda(lambda x, a=a: F.leaky_relu(x, a), f'leaky {a}')
        if cls == 'Add':
            return Lambda(lambda *xs: sum(xs[1:], xs[0]), 'add')
        if cls == 'Multiply':
            def mul(*xs):
                out = xs[0]
                for x in xs[1:]:
                    out = out * x
                return out
            return Lambda(mul, 'multiply')
        if cls == 'Concatenate':
            axis = cfg.get('axis', -1)
            dim = {-1: 1, 3: 1, 1: 2, 2: 3}[axis]
            return Lambda(lambda *xs, d=dim: torch.cat(xs, d), f'concat dim {dim}')
        if cls in ('MaxPooling2D', 'AveragePooling2D'):
            k = _pair(cfg.get('poolSize', 2))
            s = _pair(cfg.get('strides') or cfg.get('poolSize', 2))
            return Pool('max' if cls.startswith('Max') else 'avg', k, s, cfg.get('padding', 'valid'), chw[1:])
        if cls == 'GlobalAveragePooling2D':
            return Lambda(lambda x: x.mean(dim=(2, 3)), 'global avg')
        if cls == 'UpSampling2D':
            size = _pair(cfg.get('size', 2))
            mode = cfg.get('interpolation', 'nearest')
            if mode == 'bilinear':
                return Lambda(lambda x, s=size: F.interpolate(x, scale_factor=s, mode='bilinear', align_corners=False),
                              f'upsample bilinear {size}')
            return Lambda(lambda x, s=size: F.interpolate(x, scale_factor=s, mode='nearest'), f'upsample nearest {size}')
        if cls == 'ZeroPadding2D':
            p = cfg.get('padding', 1)
            if isinstance(p, int):
                pads = (p, p, p, p)
            elif isinstance(p[0], (list, tuple)):
                pads = (p[1][0], p[1][1], p[0][0], p[0][1])
            else:
                pads = (p[1], p[1], p[0], p[0])
            return Lambda(lambda x, pp=pads: F.pad(x, pp), f'zero pad {pads}')
        if cls == 'Cropping2D':
            c = cfg.get('cropping', 0)
            (t, b), (l, r) = (c, c) if isinstance(c, (list, tuple)) and isinstance(c[0], (list, tuple)) else ((c, c), (c, c))
            return Lambda(lambda x: x[:, :, t:x.shape[2] - b, l:x.shape[3] - r], 'crop')
        if cls in ('Dropout', 'SpatialDropout2D'):
            rate = cfg.get('rate', 0.0)
            return nn.Dropout2d(rate) if cls == 'SpatialDropout2D' else nn.Dropout(rate)
        # custom layers of the project's model presets, recognised by name and checked by weight count
        if layer.get('weights'):
            self.unsupported.append(f"{layer['name']} ({cls} with weights {layer['weights']})")
            return None
        low = cls.lower()
        if 'dropout' in low:
            rate = float(cfg.get('rate', 0.0))
            return nn.Dropout2d(rate) if ('channel' in low or 'spatial' in low) else nn.Dropout(rate)
        if any(w in low for w in ('resize', 'upsampl', 'interp', 'bilinear')):
            ac = bool(cfg.get('alignCorners', False))
            if cfg.get('factor'):
                f = float(cfg['factor'])
                return Lambda(lambda *xs: F.interpolate(xs[0], size=(round(xs[0].shape[2] * f), round(xs[0].shape[3] * f)),
                                                        mode='bilinear', align_corners=ac), f'{cls} bilinear x{f}')
            if len(layer['inbound']) >= 2:
                return Lambda(lambda *xs: F.interpolate(xs[0], size=xs[1].shape[2:], mode='bilinear', align_corners=ac),
                              f'{cls} bilinear to the size of input 1')
            oh, ow = out_shape[1], out_shape[2]
            if oh is None or ow is None:
                self.unsupported.append(f"{layer['name']} ({cls}: resize target unknown, config {cfg})")
                return None
            return Lambda(lambda *xs, s=(oh, ow): F.interpolate(xs[0], size=s, mode='bilinear', align_corners=ac),
                          f'{cls} bilinear to {(oh, ow)}')
        if 'pool' in low and out_shape is not None and len(out_shape) == 4:
            oh, ow = out_shape[1], out_shape[2]
            kind = 'max' if 'max' in low else 'avg'
            fn = F.adaptive_max_pool2d if kind == 'max' else F.adaptive_avg_pool2d
            return Lambda(lambda x, s=(oh, ow): fn(x, s), f'{cls} adaptive {kind} to {(oh, ow)}')
        self.unsupported.append(f"{layer['name']} ({cls}, config {cfg})")
        return None

    def forward(self, *inputs):
        values = {}
        for name, x in zip(self.input_names, inputs):
            values[(name, 0)] = x
        for name in self.order:
            if (name, 0) in values and name in self.input_names:
                continue
            key = self._key(name)
            args = [values[(n, i)] for (n, i) in self.inbound[name]]
            mod = self.mods[key] if key in self.mods else None
            if mod is None:
                out = args[0]
            else:
                out = mod(*args)
            if isinstance(out, (list, tuple)):
                for i, o in enumerate(out):
                    values[(name, i)] = o
            else:
                values[(name, 0)] = out
        outs = [values[(n, i)] for (n, i) in self.outputs]
        return outs[0] if len(outs) == 1 else outs

    def load_keras_weights(self, layer_weights):
        """layer_weights: {layer name: [numpy arrays in Keras order]}; copies them into the torch modules."""
        import numpy as np
        for name, arrays in layer_weights.items():
            mod = self.mods[self._key(name)]
            conv = None
            if isinstance(mod, nn.Sequential):
                if hasattr(mod, 'conv'):
                    conv = mod.conv.conv
            if isinstance(mod, nn.BatchNorm2d):
                # Keras order: gamma, beta, moving_mean, moving_variance (gamma/beta only if scale/center)
                it = iter(arrays)
                with torch.no_grad():
                    if mod.weight.requires_grad:
                        mod.weight.copy_(torch.from_numpy(np.asarray(next(it), dtype=np.float32)))
                    if mod.bias.requires_grad:
                        mod.bias.copy_(torch.from_numpy(np.asarray(next(it), dtype=np.float32)))
                    mod.running_mean.copy_(torch.from_numpy(np.asarray(next(it), dtype=np.float32)))
                    mod.running_var.copy_(torch.from_numpy(np.asarray(next(it), dtype=np.float32)))
                continue
            if conv is None:
                raise ValueError(f'cannot load weights into layer {name}')
            k = np.asarray(arrays[0], dtype=np.float32)
            with torch.no_grad():
                if conv.groups == 1:
                    conv.weight.copy_(torch.from_numpy(k.transpose(3, 2, 0, 1).copy()))
                else:
                    # depthwise [kh, kw, cin, mult] -> [cin*mult, 1, kh, kw]
                    kh, kw, cin, mult = k.shape
                    conv.weight.copy_(torch.from_numpy(k.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None].copy()))
                if len(arrays) > 1 and conv.bias is not None:
                    conv.bias.copy_(torch.from_numpy(np.asarray(arrays[1], dtype=np.float32)))


def count_trainable(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
