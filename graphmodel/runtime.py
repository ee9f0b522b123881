"""Weights and execution: factor modules and the models that run a compiled plan.

``graph.build()`` returns a :class:`Runtime` — an ``nn.Module`` holding one
:class:`FactorModule` per factor — whose models (``runtime.p``, ``runtime.q``) sample
ancestrally and score log-densities by walking their :class:`graphmodel.engine.Plan`.

Value shapes are ``(batch..., [plate,] *event)``: a variable in a plate carries the plate
dimension (N views or T steps) just before its event dimensions; one in a sequence plate
nested in an iid plate carries both, ``(batch..., views, steps, *event)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from .autoregressive import AutoregressiveModule
from .engine import Last, Plan, SeqBlock, compile_plan
from .errors import GraphModelError, ShapeError, ValidationError
from .errors import format_shape as _fmt
from .factors import NET, Tied
from .families import FAMILIES, draw, draw_plan, log_density
from .flows import build_layers
from .flows.factor import FlowFactorModule
from .forced import forced_plan, run_forced
from .jumps import Pick, delta_of, draw_pair, step_at, with_pairs
from .networks import HeadSpec, InputSpec, NetSpec, build_network, call
from .paramtable import _CONST, _LEARN, _NET, _SCHED, param_table
from .perstep import PerStepFactor
from .sequences import blank_padding, expanded, last_step, run_sequence, tempered
from .shapes import broadcast
from .steps import Steps, Values, dense
from .variables import length_key, pair_key

_EXACT_NETS = frozenset({"MLP", "GRUCell", "LSTMCell", "Identity", "BiRNN"})


class FactorModule(nn.Module):
    """One factor's network and parameters; ``forward(*parents)`` returns a fresh distribution.

    Nothing is cached between calls: the same parents always give the same distribution.
    """

    def __init__(self, graph, index: int, trusted: bool = False, shared: dict | None = None):
        super().__init__()
        f = graph.factors[index]
        self.label = f"{f.model}({f.label})"
        self.family = FAMILIES.get(f.family).with_options(f.family_options)
        var = graph.variables[f.target]
        self.event_ndim = len(var.shape)
        self.deterministic = self.family.deterministic
        names = [k for k in self.family.params] + [k for k in self.family.defaults if k not in self.family.params]
        heads = [HeadSpec(k, self.family.param_shape(k, var)) for k in names if f.params.get(k) == NET]
        inputs = [
            InputSpec(p.name, graph.variables[p.name].shape, graph.variables[p.name].classes,
                      is_state=bool(p.lag) and p.name == f.target)
            for p in f.parents
        ]
        spec = graph.networks[f.net.name] if isinstance(f.net, Tied) else f.net
        self.net = None
        if heads:
            try:
                self.net = self._network(f, spec, inputs, heads, trusted, {} if shared is None else shared)
            except GraphModelError as e:
                raise type(e)(f"factor {self.label}: {e}") from None
        self.table = param_table(self, f, var, names)
        # a Normal's scale from exp(raw): the raw value is log σ itself, which its KL and
        # log-density read (one op fewer each way, and exact where exp would overflow)
        self._log_scale = self.family.dist is torch.distributions.Normal and any(
            name == "scale" and kind in (_NET, _LEARN) and fn is torch.exp for name, kind, _, fn in self.table)
        #: N(0, I) with constant parameters (a standard prior): the KL against it and its
        #: log-density take the short forms (``families.closed_form_kl``, ``log_density``)
        self.standard = self.family.dist is torch.distributions.Normal and all(
            kind == _CONST and bool((self._buffers[ref] == (0.0 if name == "loc" else 1.0)).all())
            for name, kind, ref, _ in self.table)
        #: (buffer name, schedule) of the parameters that follow a schedule (Runtime.set_step)
        self.schedules = tuple((ref, f.params[name]) for name, kind, ref, _ in self.table if kind == _SCHED)
        self.reduce = f.reduce
        self.reduce_dims = tuple(-(len(h.shape) + 1) for h in heads)
        self.head_shapes = tuple(h.shape for h in heads)
        # built-in MLPs, GRU and LSTM cells and identities emit their heads' shapes by construction; every
        # other network (convolutions, users' modules) is run once on zeros to prove it does
        if self.net is not None and not (isinstance(spec, NetSpec) and spec.type in _EXACT_NETS):
            self._verify(graph, f, heads)

    def _network(self, f, spec, inputs, heads, trusted, shared: dict) -> nn.Module:
        """The factor's network; a tied one is built by its first factor and reused by the
        others, which must read and emit the same shapes."""
        if not isinstance(f.net, Tied):
            return build_network(spec, inputs, heads, trusted)
        sig = (tuple((i.shape, i.classes, i.is_state) for i in inputs), tuple((h.name, h.shape) for h in heads))
        hit = shared.get(f.net.name)
        if hit is None:
            net = build_network(spec, inputs, heads, trusted)
            shared[f.net.name] = (net, sig, self.label)
            return net
        net, first, label = hit
        if first != sig:
            raise ShapeError(
                f"network '{f.net.name}' is tied to factors {label} and {self.label}, which differ: "
                f"{label} {_signature(first)}, {self.label} {_signature(sig)}")
        return net

    def _verify(self, graph, f, heads):
        """Run the network once on zeros so that a wrong output shape is caught at build."""
        batch = (2, 3) if f.reduce else (2,)
        xs = []
        for p in f.parents:
            v = graph.variables[p.name]
            xs.append(torch.zeros(*batch, *v.shape, dtype=torch.long if v.classes else torch.get_default_dtype()))
        was = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self.net(*xs)
        except Exception as e:  # a user's module may raise anything; report it on the factor
            raise ShapeError(f"factor {self.label}: the network failed on parents shaped "
                             f"{[_fmt(x.shape) for x in xs]}: {e}") from None
        finally:
            self.train(was)
        if len(out) != len(heads):
            raise ShapeError(f"factor {self.label}: the network returned {len(out)} outputs, "
                             f"expected {len(heads)} ({', '.join(h.name for h in heads)})")
        for h, y in zip(heads, out):
            want = (*batch, *h.shape)
            if tuple(y.shape) != want:
                raise ShapeError(
                    f"factor {self.label}: network output '{h.name}' has shape {_fmt(y.shape)}, "
                    f"expected {_fmt(want)} (batch, *shape of the parameter)")

    def params(self, *parents: torch.Tensor) -> dict:
        """Constrained parameters of the distribution for these parent values."""
        return self._params(parents)[0]

    def _params(self, parents) -> tuple[dict, torch.Tensor | None]:
        """:meth:`params`, and a Normal's unconstrained scale (its log σ) where it has one."""
        # called on every step: submodules, parameters and buffers are read from their
        # dicts directly (``.to()`` replaces buffers, so nothing is cached across calls)
        net = self._modules.get("net")
        raw = call(net, *parents) if net is not None else ()
        if self.reduce:
            if self.reduce == "sum":
                raw = tuple(r.sum(d) for r, d in zip(raw, self.reduce_dims))
            else:
                raw = tuple(r.mean(d) for r, d in zip(raw, self.reduce_dims))
        out, log_scale = {}, None
        for name, kind, ref, fn in self.table:
            if kind == _NET:
                v = raw[ref]
            elif kind == _LEARN:
                v = self._parameters[ref]
            else:
                out[name] = self._buffers[ref]
                continue
            if fn is None:
                out[name] = v
            else:
                out[name] = fn(v)
                if self._log_scale and name == "scale":  # (its fn is exp: checked at build)
                    log_scale = v
        return out, log_scale

    def point(self, parents) -> torch.Tensor:
        """A deterministic factor's value for these parents: its Delta's point, without the Delta
        (a sweep's step takes it so; nothing scores a deterministic factor)."""
        return self._params(parents)[0]["value"]

    def forward(self, *parents: torch.Tensor):
        params, log_scale = self._params(parents)
        d = self.family.make(params, self.event_ndim)
        if self.standard:
            d._gm_standard = True
        elif log_scale is not None:
            d._gm_log_scale = log_scale  # (families: log σ for the KL and the log-density)
        return d


def _tau(temperature) -> float | None:
    """A sampling temperature, checked; ``None`` for 1 (the model itself, today's code path)."""
    if type(temperature) is float and temperature == 1.0:  # the default, on every training step
        return None
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
            0 < temperature < float("inf")):
        raise GraphModelError(f"temperature: expected a positive number, found {temperature!r}")
    return None if temperature == 1 else float(temperature)


def _signature(sig) -> str:
    """``reads (8,), (4,) and emits loc (8,), scale (8,)`` for a tied network's error."""
    ins, heads = sig
    reads = ", ".join(_fmt(shape) + (f"×{c} classes" if c else "") for shape, c, _ in ins) or "nothing"
    return f"reads {reads} and emits {', '.join(f'{n} {_fmt(shape)}' for n, shape in heads)}"


class LogProbs(Mapping):
    """Factor label → log-density, computed when first read.

    A trace keeps each stochastic factor's distribution and value; the log-density is
    evaluated only if an objective asks for it (an ELBO with a closed-form KL never
    scores ``q(z|x)`` or ``p(z)``), then summed over its plate or its sequence steps.
    """

    def __init__(self, pending: dict):
        self._pending = pending  # label → (dists, values, sum over a plate dim, step masks or None)
        self._done: dict = {}

    def __getitem__(self, label: str) -> torch.Tensor:
        hit = self._done.get(label)
        if hit is None:
            dists, values, plate, masks = self._pending[label]
            hit = None
            for k, (d, v) in enumerate(zip(dists, values)):
                lp = log_density(d, v)
                if masks is not None:  # a step past the sequence's length adds nothing
                    lp = lp.masked_fill(~masks[k], 0.0)
                hit = lp if hit is None else hit + lp
            if plate:
                hit = hit.sum(-1)
            self._done[label] = hit
        return hit

    def __iter__(self):
        return iter(self._pending)

    def __len__(self) -> int:
        return len(self._pending)


@dataclass
class Trace:
    """What one pass through a model produced.

    Attributes:
        values: variable name → value, shaped ``(batch..., [plate,] *event)`` (a
            :class:`graphmodel.steps.Values`: a swept variable's steps are stacked when first
            read; ``values.raw(name)`` gives them step by step); ``None`` for an LSTM state that
            a teacher-forced pass ran fused and never made (``graphmodel.forced``).
        log_probs: factor label → log-density summed over plates and steps, ``(batch...)``;
            deterministic factors are left out.
        dists: factor label → the distribution (a list, one per step in time order, inside a
            sequence).
        masks: factor label → one boolean ``(batch...)`` mask per entry of its ``dists`` list
            (``(batch..., views)`` in a sequence nested in views), true where the step lies
            within the sequence's length; only for sequences whose lengths were given.
        times: factor label → the step of each entry of its ``dists`` list, inside a sequence
            (a boundary factor may run at the first steps and at the last ones).
        lengths: sequence plate → the lengths ``(batch...)`` its sampled end token gave
            (``Plate.end``; a pass that sampled without scoring), else empty.
    """

    values: Mapping
    log_probs: Mapping
    dists: dict
    masks: dict = field(default_factory=dict)
    times: dict = field(default_factory=dict)
    lengths: dict = field(default_factory=dict)


class ModelRuntime:
    """Sampling and scoring of one model of a built graph."""

    def __init__(self, runtime: Runtime, plan: Plan, labels: list[str], observed: frozenset = frozenset()):
        self._modules = list(runtime.factor_modules)  # a list: ModuleList indexing is slow per call
        #: per factor: ``FactorModule.point`` of a deterministic one (a sweep's value without a Delta)
        self._points = [m.point if type(m) is FactorModule and m.deterministic else None for m in self._modules]
        #: per factor: its modules step by step where it has a network per step (``graphmodel.perstep``)
        self._per_step = [list(m.steps) if isinstance(m, PerStepFactor) else None for m in self._modules]
        self.plan = plan
        #: per block: its teacher-forced form where a scored sweep qualifies (graphmodel/forced.py)
        self._forced = [forced_plan(plan, b, observed, self._modules) if isinstance(b, SeqBlock) and not any(
            isinstance(self._modules[s.factor], PerStepFactor) for s in b.steps) else None for b in plan.blocks]
        self.name = plan.model
        self._labels = labels  # graph factor index → label
        self._slot = {n: k for k, n in enumerate(plan.names)}
        #: the names of the model's variables, and the length keys of its sequence plates
        #: (``"time.length"``: one length per example): what a caller may give
        seq = {b.plate for b in plan.blocks if isinstance(b, (SeqBlock, Last))} | {
            b.lengths for b in plan.blocks if getattr(b, "lengths", None) is not None}  # (Steps over whole sequences)
        self._length_keys = {length_key(pl): pl for pl in seq}
        #: ``"time.pair"``: the pair of steps (t₁, t₂) per example of a jump plate it reads
        self._pair_keys = {pair_key(pl): pl for pl in plan.jumps}
        #: per block: the parents a step outside the sweeps reads whole from a sequence plate
        #: (a sweep leaves its values step by step: ``graphmodel.steps``)
        self._whole = [() if isinstance(b, (SeqBlock, Last, Pick)) else tuple(k for k in b.parents if plan.plates[k] in seq)
                       for b in plan.blocks]
        self.variables = frozenset(plan.names) | frozenset(self._length_keys) | frozenset(self._pair_keys)
        #: slot → number of plate dims (2 in a nested sequence plate); plate → (slot, dim) pairs
        #: whose value shows the plate's size (a nested variable shows both of its plates')
        self._depth = tuple(0 if pl is None else 2 if pl in plan.outer else 1 for pl in plan.plates)
        self._plate_slots = {}
        for k, pl in enumerate(plan.plates):
            if pl is not None:
                dim = -(plan.event_ndims[k] + 1)
                self._plate_slots.setdefault(pl, []).append((k, dim))
                if pl in plan.outer:
                    self._plate_slots.setdefault(plan.outer[pl], []).append((k, dim - 1))

    # --- public API -------------------------------------------------------------------

    def sample(self, n: int | None = None, given: dict | None = None, plate_sizes: dict | None = None,
               temperature: float = 1.0) -> dict:
        """Sample every variable ancestrally; ``given`` values are kept as they are.

        Args:
            n: number of samples; with ``given`` it adds a leading sample dimension.
            given: variable name → value (inputs of the model must be among them).
            plate_sizes: plate name → size, overriding the declared sizes.
            temperature: τ > 0; each sampled factor draws from its tempered density
                ``p^(1/τ)`` (``Family.temper``: a Normal's σ·√τ, a Laplace's b·τ, logits ÷ τ).
                τ = 1 is the model itself; a family without a temperature refuses τ ≠ 1.
        Returns:
            variable name → tensor shaped ``(n or batch..., [plate,] *event)``; for a sequence
            plate whose end token (``Plate.end``) was drawn, also its lengths under
            ``length_key(plate)`` (the steps after each end zeroed; the sweep stops when every
            sequence has ended); for a plate with a jump whose pair it read, the pair under
            ``pair_key(plate)``.
        """
        vals, _, dists = self._run(given, n, plate_sizes, False, True, keep=False, tau=_tau(temperature))
        out = {name: dense(v) for name, v in zip(self.plan.names, vals)}
        for plate, n_ in dists.get("lengths", {}).items():  # a sequence plate's end token was drawn
            out[length_key(plate)] = n_
        for plate, pair in dists.get("pairs", {}).items():  # the pair of steps it read (scored again with it)
            out[pair_key(plate)] = pair
        return out

    def log_prob(self, values: dict) -> torch.Tensor:
        """Joint log-density ``(batch...)`` of ``values`` (deterministic factors add 0)."""
        terms = self.trace(values, score=True, sample=False).log_probs
        return sum(terms.values())

    def log_prob_terms(self, values: dict) -> dict:
        """Factor label → log-density ``(batch...)`` for each stochastic factor."""
        return self.trace(values, score=True, sample=False).log_probs

    def trace(self, given: dict | None = None, *, n: int | None = None, plate_sizes=None,
              score: bool = True, sample: bool = True, temperature: float = 1.0) -> Trace:
        """One ancestral pass: sample what is not given, and score when ``score``.

        At a ``temperature`` other than 1 (see :meth:`sample`) the sampled factors' tempered
        distributions are drawn from, kept and scored.
        """
        plan = self.plan
        vals, lps, dists = self._run(given, n, plate_sizes, score, sample, keep=True, tau=_tau(temperature))
        # the pair of steps a jump read: scoring the values again reads the same pair
        pairs = dists.pop("pairs", {})
        values = Values([*plan.names, *map(pair_key, pairs)], [*vals[:len(plan.names)], *pairs.values()])
        labels = self._labels
        log_probs = LogProbs({labels[i]: lps[i] for i in plan.factors if i in lps})
        masks = {labels[i]: m for i, m in dists.pop("masks", {}).items()}
        times = {labels[i]: m for i, m in dists.pop("times", {}).items()}
        lengths = dists.pop("lengths", {})
        return Trace(values, log_probs, {labels[i]: d for i, d in dists.items()}, masks, times, lengths)

    # --- execution --------------------------------------------------------------------

    def _run(self, given, n, plate_sizes, score, sample, keep, tau=None):
        """Values (by slot), pending log-densities and distributions (by factor) of one pass.

        With ``keep=False`` (:meth:`sample`) no distribution outlives its step.
        """
        plan = self.plan
        vals: list = [None] * len(plan.event_ndims)
        given = given or {}
        lengths: dict = {}
        pairs: dict = {}
        for name, v in given.items():
            k = self._slot.get(name)
            if k is None:
                if name in self._length_keys:
                    lengths[self._length_keys[name]] = v if n is None else v.expand(n, *v.shape)
                    continue
                if name in self._pair_keys:
                    pairs[self._pair_keys[name]] = v if n is None else v.expand(n, *v.shape)
                    continue
                raise GraphModelError(
                    f"model '{self.name}' has no variable '{name}'; its variables: {', '.join(plan.names)}")
            vals[k] = v if n is None else dense(v).expand(n, *v.shape)
        batch = self._batch_shape(vals, n)
        sizes = self._plate_sizes(vals, plate_sizes)
        lps: dict = {}
        dists: dict = {}
        if plan.jumps:
            self._draw_pairs(vals, pairs, lengths, batch, sizes)
            dists["pairs"] = pairs
        for k in plan.inputs:
            if vals[k] is None:
                raise GraphModelError(
                    f"model '{self.name}' reads '{plan.names[k]}' but no value was given for it")
        if lengths:
            blank_padding(self, vals, lengths)
        for b, block in enumerate(plan.blocks):
            if isinstance(block, SeqBlock):
                for s in block.steps:
                    if self._per_step[s.factor] is not None:
                        self._modules[s.factor].check_length(sizes[block.plate], block.plate)
                fp = self._forced[b] if score and tau is None else None
                if fp is not None and all(vals[k] is not None for k in fp.given):
                    run_forced(self, block, fp, vals, sizes, lps, dists, lengths.get(block.plate))
                    continue
                run_sequence(self, block, vals, batch, sizes, lps, dists, score, sample, lengths.get(block.plate),
                             tau)
            elif isinstance(block, Last):
                vals[block.target] = last_step(vals[block.source], plan.event_ndims[block.source],
                                               lengths.get(block.plate))
            elif isinstance(block, Pick):
                vals[block.target] = step_at(vals[block.source], plan.event_ndims[block.source],
                                             pairs[block.plate][..., block.which])
            else:
                for k in self._whole[b]:
                    if type(vals[k]) is Steps:
                        vals[k] = vals[k].whole()
                self._run_step(block, vals, batch, sizes, lps, dists, score, sample, keep, tau, lengths)
        return vals, lps, dists

    def _draw_pairs(self, vals, pairs: dict, lengths: dict, batch, sizes) -> None:
        """Each jump plate's pair where not given (into ``pairs``), and δ where the model reads it."""
        device = next((v.device for v in vals if v is not None), None)
        for plate, (longest, delta) in self.plan.jumps.items():
            if plate not in pairs:
                pairs[plate] = draw_pair(sizes[plate], longest, lengths.get(plate), batch, device)
            if delta is not None and vals[delta] is None:
                vals[delta] = delta_of(pairs[plate])

    def _batch_shape(self, vals, n):
        plan = self.plan
        for k, v in enumerate(vals):
            if v is not None:
                nd = plan.event_ndims[k] + self._depth[k]
                if v.dim() < nd:
                    raise ShapeError(
                        f"variable '{plan.names[k]}': value has shape {_fmt(v.shape)}, expected "
                        f"(batch..., {'plate, ' * self._depth[k]}*event) with {nd} trailing dims")
                return v.shape[: v.dim() - nd]
        return torch.Size(() if n is None else (n,))

    def _plate_sizes(self, vals, override):
        sizes = dict(self.plan.plate_sizes)
        for plate, slots in self._plate_slots.items():
            for k, dim in slots:
                if vals[k] is not None:
                    sizes[plate] = vals[k].shape[dim]
                    break
        if override:
            sizes.update(override)
        return sizes

    def _parents(self, step, vals, sizes):
        xs = []
        for k, ex in zip(step.parents, step.expand):
            v = vals[k]
            if ex:
                nd = self.plan.event_ndims[k]
                v = v.unsqueeze(-nd - 1)
                v = v.expand(*v.shape[: -nd - 1], sizes[step.plate], *v.shape[v.dim() - nd:])
            xs.append(v)
        return xs

    def _run_step(self, step, vals, batch, sizes, lps, dists, score, sample, keep=True, tau=None, lengths=None):
        # FactorModule.forward directly: nothing registers hooks on factor modules, and
        # nn.Module.__call__'s hook handling is a measurable share of a small step
        mod = self._modules[step.factor]
        value = vals[step.target]
        if value is None:
            if not sample:
                raise GraphModelError(
                    f"model '{self.name}': no value given for '{self.plan.names[step.target]}'")
            want = batch + ((sizes[step.plate],) if step.plate and not step.reduce else ())
            if mod.standard and not (keep or score) and tau is None:
                # a draw from N(0, I) that nobody keeps: the noise itself, torch's very numbers
                # (``loc + σ·ε`` with loc 0 and σ 1), without building the distribution
                loc = mod._buffers["const_loc"]
                k = loc.dim() - mod.event_ndim
                shape = broadcast(loc.shape[:k], want) + loc.shape[k:]
                vals[step.target] = torch.randn(shape, dtype=loc.dtype, device=loc.device)
                return
        if value is not None and step.deterministic:
            return  # a given deterministic value (q's, lent to p by the ELBO) is taken as it is
        xs = [vals[k] for k in step.parents] if step.plate is None else self._parents(step, vals, sizes)
        if step.lengths is not None:  # a network over whole sequences reads their lengths too
            xs.append(lengths.get(step.lengths) if lengths else None)
        d = mod.forward(*xs) if tau is None or value is not None else tempered(mod, xs, tau)
        if value is None:
            if d.batch_shape != want:
                d = expanded(mod, d, want)
            how = None if keep or score else draw_plan(d)
            if how is not None:
                # nothing keeps this distribution: let it (and its parameters) go before the
                # draw allocates the sample, so a pass holds no more memory than it needs
                d = None
                op, arg = how
                how = None
                with torch.no_grad():
                    vals[step.target] = op(arg)
                return
            vals[step.target] = value = draw(d)
        if keep:
            dists[step.factor] = d
        if score and not step.deterministic:
            lps[step.factor] = ((d,), (value,), bool(step.plate and not step.reduce), None)

    def __repr__(self) -> str:
        return f"ModelRuntime({self.name!r}, variables={list(self.plan.names)})"


def _factor_module(graph, index: int, trusted: bool, shared: dict) -> nn.Module:
    """The module of one factor, by its kind (decided here once: no per-step dispatch)."""
    f = graph.factors[index]
    if f.per_step:
        size = graph.plates[graph.variables[f.target].plate].size
        return PerStepFactor(lambda: FactorModule(graph, index, trusted, shared), size)
    if f.autoregressive is not None:
        return AutoregressiveModule(graph, index, trusted, shared)
    mod = FactorModule(graph, index, trusted, shared)
    if f.flow:
        parents = [InputSpec(p.name, graph.variables[p.name].shape, graph.variables[p.name].classes)
                   for p in f.parents]
        return FlowFactorModule(mod, build_layers(f.flow, graph.variables[f.target].shape, mod.label, parents))
    return mod


class Runtime(nn.Module):
    """All the weights of a graph, and a runnable model per named model.

    Example:
        >>> net = vae.build()          # doctest: +SKIP
        >>> xz = net.p.sample(16)      # doctest: +SKIP
        >>> net.q.log_prob(xz)         # doctest: +SKIP
    """

    def __init__(self, graph, trusted: bool = False):
        super().__init__()
        problems = graph.problems()
        if problems:
            raise ValidationError(problems)
        self.graph_name = graph.name
        shared: dict = {}  # tied network name → (module, shapes, first factor)
        self.factor_modules = nn.ModuleList(_factor_module(graph, i, trusted, shared) for i in range(len(graph.factors)))
        labels = [m.label for m in self.factor_modules]
        self._scheduled = [(m, ref, sched) for m in (getattr(x, "base", x) for y in self.factor_modules
                                                      for x in (y.steps if isinstance(y, PerStepFactor) else (y,)))
                           for ref, sched in m.schedules]  # (a flow's schedules are its base's; each step's own)
        self._step_values: list = [None] * len(self._scheduled)
        # a loaded state (a checkpoint, a rollback) replaces the buffers: forget what was written
        self.register_load_state_dict_post_hook(lambda module, _keys: module._step_values.__setitem__(
            slice(None), [None] * len(module._step_values)))
        self.kinds = dict(graph.models)
        self._jump_plates = {k: p for k, p in graph.plates.items() if p.jump is not None}
        self._variables = dict(graph.variables) if self._jump_plates else {}
        observed = frozenset(n for n, v in graph.variables.items() if v.role == "observed")
        self._models = {m: ModelRuntime(self, compile_plan(graph, m), labels, observed) for m in graph.models}
        self._factor_model = [f.model for f in graph.factors]

    def with_pairs(self, batch: dict) -> dict:
        """``batch`` with each jump plate's pair of steps (``pair_key(plate)``), its δ and its
        gathered variables added where missing (see :mod:`graphmodel.jumps`): the objective
        calls this once per evaluation, so every model it runs reads the same pair."""
        return with_pairs(self._jump_plates, self._variables, batch) if self._jump_plates else batch

    def model(self, name: str) -> ModelRuntime:
        try:
            return self._models[name]
        except KeyError:
            raise GraphModelError(f"no model '{name}'; models: {', '.join(self._models)}") from None

    @property
    def p(self) -> ModelRuntime:
        return self.model("p")

    @property
    def q(self) -> ModelRuntime:
        return self.model("q")

    def parameters_of(self, *models: str) -> list[nn.Parameter]:
        """The parameters of the factors of the given models (for per-player optimizers);
        a network tied between factors is listed once."""
        for m in models:
            self.model(m)
        found = {id(p): p for mod, m in zip(self.factor_modules, self._factor_model) if m in models
                 for p in mod.parameters()}
        return list(found.values())

    def set_step(self, step: int) -> None:
        """Set the parameters that follow a schedule to their values at training ``step``.

        The trainer calls this before each step. A value is written into its buffer in
        place (``fill_`` with a host number: no read of the device) and only when it
        changed, so a finished schedule, or a graph without one, costs nothing.
        """
        for k, (mod, ref, sched) in enumerate(self._scheduled):
            v = sched.value(step)
            if v != self._step_values[k]:
                mod._buffers[ref].fill_(v)
                self._step_values[k] = v
