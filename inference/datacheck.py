"""Checks of what a dataset is given and gives, before anything runs on it: a loader's
options against its signature (:func:`check_loader_options`), and the tensors bound to
variables (:func:`check_tensor` refuses what the first step could only fail on;
:func:`to_model_dtype` converts floating data to the model's dtype, with a note)."""

from __future__ import annotations

import inspect
import math

import torch

from graphmodel.errors import DataError

#: the largest integer option a dataset is given (examples, steps, pixels)
MAX_DATASET_INT = 10_000_000
#: the most values a generated data set may hold (its options' n × steps × views × pixels²,
#: 800 MB of float32): beyond it a toy set would fill the memory before the first step
MAX_DATASET_VALUES = 200_000_000


def check_loader_options(fn, name: str, options: dict, where: str = "data.options") -> dict:
    """Check dataset ``name``'s options against its loader ``fn``'s signature before it runs;
    raise a :class:`DataError` naming ``<where>.<option>``.

    An option must be a parameter of the loader (unless it takes ``**kwargs``) and of its
    default's type: ``seed`` an integer in [0, 2**63); other integers in [1, 10,000,000]
    (or from 0 where the default is 0); numbers finite, and ≥ 0 where the default is.

    Returns:
        the options to call the loader with: an integer given where the default is a float
        passed as a float (torch cannot multiply by an integer beyond 64 bits).
    """
    params = inspect.signature(fn).parameters
    free = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for key, value in options.items():
        p = params.get(key)
        if p is None:
            if free:
                continue
            raise DataError(f"{where}.{key}: {name} has no option '{key}'; options: "
                            + (", ".join(params) or "none"))
        msg = _option_problem(key, value, p.default)
        if msg:
            raise DataError(f"{where}.{key}: {msg}, found {value!r}")
    size = {k: options.get(k, p.default) for k, p in params.items() if k in ("n", "steps", "views", "pixels")}
    volume = math.prod(v for k, v in size.items() if isinstance(v, int)) * size.get("pixels", 1)
    if volume > MAX_DATASET_VALUES:
        raise DataError(f"{where}: {name} would hold {volume:,} values ({' × '.join(size)}"
                        f"{' × pixels' if 'pixels' in size else ''}), more than {MAX_DATASET_VALUES:,}; "
                        "make it smaller")
    return {k: float(v) if k in params and type(params[k].default) is float and not isinstance(v, bool) else v
            for k, v in options.items()}


def _option_problem(key: str, value, default) -> str | None:
    """What is wrong with one dataset option given its loader's default, or None."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(default, int):
        low, high = (0, 2**63 - 1) if key == "seed" else (min(default, 1), MAX_DATASET_INT)
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        span = "[0, 2**63)" if key == "seed" else f"[{low}, {high:,}]"
        return None if ok else f"expected an integer in {span}"
    if isinstance(default, float):
        try:
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                  and (default < 0 or value >= 0))
        except OverflowError:
            ok = False
        return None if ok else "expected a finite number" + (" >= 0" if default >= 0 else "")
    if isinstance(default, str):
        return None if isinstance(value, str) else "expected a string"
    return None


#: dtypes refused rather than converted: the model computes in its own floating dtype, and
#: half precision given as data has already lost what a conversion would pretend to keep
_HALF = (torch.float16, torch.bfloat16)


def check_tensor(name: str, x) -> None:
    """Refuse data that the first step could only fail on, naming the variable and the
    fix: a non-tensor, a meta, sparse or 0-d tensor, one that requires grad, half
    precision or complex numbers."""
    if not isinstance(x, torch.Tensor):
        raise DataError(f"variable '{name}': data must be a tensor, found {type(x).__name__}; pass a tensor "
                        "(torch.from_numpy(a) for a numpy array)")
    if x.is_meta:
        found, fix = "a meta tensor (it holds no values)", "pass a tensor with values"
    elif x.layout != torch.strided:
        found, fix = f"a {x.layout} tensor", "pass x.to_dense()"
    elif x.dim() == 0:
        found, fix = "a 0-d tensor (a single number)", "pass the examples along a first dimension"
    elif x.requires_grad:
        found, fix = "a tensor that requires grad", "pass x.detach()"
    elif x.dtype in _HALF or x.dtype.is_complex:
        found, fix = f"dtype {x.dtype}", "pass real values as float32 or float64 (x.float())"
    else:
        return
    raise DataError(f"variable '{name}': expected a dense tensor of examples, found {found}; {fix}")


def to_model_dtype(data: dict, dtype: torch.dtype | None = None) -> tuple[dict, list[str]]:
    """Floating data in the model's dtype (torch's default unless given): numpy's float64,
    say, converted, with a note for each variable converted (returned beside the data)."""
    dtype = dtype or torch.get_default_dtype()
    out, notes = {}, []
    for name, x in data.items():
        if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != dtype:
            notes.append(f"variable '{name}': data of dtype {x.dtype} converted to the model's {dtype}")
            x = x.to(dtype)
        out[name] = x
    return out, notes
