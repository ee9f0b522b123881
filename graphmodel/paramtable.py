"""Where each parameter of a factor comes from: the table every kind of factor module reads.

A factor's parameters come from its network's heads, free learned parameters, constants or
schedules; a positive parameter's raw value is mapped by the factor's chosen map (``exp``,
``softplus``). :func:`param_table` builds that table once, at build, for the parametric and
the autoregressive factor modules alike.
"""

from __future__ import annotations

import torch
from torch import nn

from .factors import NET, Annealed, Const, Learn
from .families import param_function, param_transform
from .positive import DEFAULT_POSITIVE, POSITIVE_MAPS, is_positive

#: where a parameter's value comes from: a network head, a constant, a learned parameter, a schedule
_NET, _CONST, _LEARN, _SCHED = 0, 1, 2, 3


def param_table(module, f, var, names) -> tuple:
    """One ``(name, kind, ref, fn)`` per parameter of ``module`` (a factor's module: it gets
    the learned parameters and the buffers): where its value comes from (a head index, a
    parameter or buffer name) and the map of its raw value (``None``: identity)."""
    table, head = [], 0
    for k in names:
        src = f.params.get(k, Const(module.family.defaults.get(k)))
        constraint = module.family.constraint(k)
        shape = module.family.param_shape(k, var)
        if is_positive(constraint):
            pmap = POSITIVE_MAPS.get(f.positive.get(k, DEFAULT_POSITIVE))
            fn, inverse = pmap.forward, pmap.inverse
        else:
            fn, inverse = param_function(constraint), param_transform(constraint).inv
        if src == NET:
            table.append((k, _NET, head, fn))
            head += 1
        elif isinstance(src, Learn):
            init = torch.as_tensor(src.init, dtype=torch.get_default_dtype()).expand(shape)
            setattr(module, f"raw_{k}", nn.Parameter(inverse(init).clone()))
            table.append((k, _LEARN, f"raw_{k}", fn))
        elif isinstance(src, Annealed):
            # a buffer the trainer fills at each step (Runtime.set_step): the value
            # reaches the device without the host waiting, and a checkpoint keeps it
            module.register_buffer(f"sched_{k}", torch.full(shape, src.value(0)))
            table.append((k, _SCHED, f"sched_{k}", None))
        else:
            value = torch.as_tensor(src.value, dtype=torch.get_default_dtype()).expand(shape).clone()
            module.register_buffer(f"const_{k}", value)
            table.append((k, _CONST, f"const_{k}", None))
    return tuple(table)
