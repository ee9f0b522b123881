"""The trainer: fits a graph's objective on CPU or GPU and reports through events.

It owns the optimizers and the update schedule. An objective is one loss to minimize, or
a game (``players``): each player has its own parameters, loss, optimizer and number of
updates per step, and no loss ever steps an optimizer itself. The trainer never calls
into a GUI: listeners receive :mod:`inference.events` objects.

Hot path: one step computes the losses, steps the optimizers and keeps the metrics on
the device; the host reads them once per ``log_every`` steps (one sync), which is also
where NaN/Inf is caught, the offending term and step named, and the last good state
restored (``on_nan="rollback"``, with the learning rate halved) or training stopped.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from typing import Callable

import torch

from graphmodel.budget import guard, limit_of
from graphmodel.checkpoint import _STRUCTURE, load_checkpoint, save_checkpoint
from graphmodel.errors import GraphModelError, TrainingError

from . import distributed, rngstate
from . import events as ev
from .config import CUDA_GRAPH_MODES, TrainConfig
from .data import shown
from .datasection import check_section, for_scoring, prepare, split
from .objectives.game import Player
from .optim import OPTIMIZER_WORDS, SCHEDULE_WORDS, custom_optimizer, custom_scheduler
from .sources import Stream, is_stream

#: The name a Diverged event gives when the loss stayed finite but the parameters did not.
PARAMETERS = "parameters"


class _Losses(torch.nn.Module):
    """The players' losses as one module, so DistributedDataParallel can wrap them."""

    def __init__(self, runtime, players):
        super().__init__()
        self.runtime = runtime
        self.extra = torch.nn.ParameterList([p for pl in players for p in pl.extra_params])
        self.players = players

    def forward(self, k: int, batch: dict, step: int):
        value = self.players[k].loss(self.runtime, batch, step)
        return value.total, dict(value.terms)


def _fused_on_cpu(make, params: list, **options) -> torch.optim.Optimizer:
    """Adam or AdamW: torch's fused implementation for parameters on a CPU, where this torch
    has one (2.4 and later), else torch's default.

    On a CPU torch's default updates each parameter with a dozen separate passes over its
    moments; the fused one makes one (an Adam step for the 11M parameters of the benchmark's
    h=2000 VAE: ~18 ms against ~100 ms on one core). On a GPU torch's default (one launch per
    op for all parameters at once) is kept: that is the path whose steps are checked to never
    wait for the device."""
    if all(p.device.type == "cpu" for p in params):
        try:
            return make(params, fused=True, **options)
        except RuntimeError:  # a torch without a fused CPU kernel
            pass
    return make(params, **options)


def _copied(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone()


def available_devices() -> list[str]:
    """The devices this machine can train on, as ``training.device`` names them."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out += ["cuda", *(f"cuda:{i}" for i in range(torch.cuda.device_count()))]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append("mps")
    return out


def resolve_device(name: str) -> torch.device:
    """The torch device ``training.device`` names; a :class:`GraphModelError` naming the
    devices this machine has when it has not that one (checked here, before any tensor
    moves, so that ``check`` refuses it as ``train`` would)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    have = available_devices()
    if name not in have:
        what = {"cuda": "CUDA", "mps": "MPS"}.get(name.partition(":")[0]) if len(have) == 1 or name == "mps" else None
        raise GraphModelError(f"training.device {name!r} was asked for, but {what or 'that device'} is not "
                              f"available on this machine (available: {', '.join(have)})")
    return torch.device(name)


class Trainer:
    """Fit a graph.

    Args:
        graph: the graph document (its ``training`` section gives defaults).
        data: variable name → tensor (held on the device whole); or a ``torch.utils.data``
            ``Dataset`` (map-style or iterable) or ``DataLoader``, read batch by batch
            (:mod:`inference.sources`); if ``None``, the graph's ``data`` section is loaded.
            Unless ``test_data`` is given or the dataset has a split of its own, **10 % of
            the examples are held out** as the test split (seeded; ``test_fraction`` in the
            config, the training or the data section sets the share, 0 for none; an
            iterable dataset or a DataLoader has none).
        config: a :class:`TrainConfig` or dict overriding the graph's training section.
        objective: a loss (``loss(runtime, batch, step)``), a list of :class:`Player` or a
            game (:class:`inference.adversarial.Game`); by default the objective derived from
            the graph.
        trust: allow user-code networks to be imported.
        test_data: variable name → tensor (or a Dataset / DataLoader beside a streamed ``data``),
            the test split: all of ``data`` is then trained on.
        optimizer: the optimizer in Python, overriding ``training.optimizer``: a
            ``torch.optim.Optimizer`` class or any callable ``(params, lr=…) → Optimizer``.
        scheduler: the learning-rate schedule in Python: any callable ``(optimizer) → scheduler``
            (a class from ``torch.optim.lr_scheduler``), stepped once per training step.

    Listeners (:meth:`subscribe`) receive every :mod:`inference.events` event; ``run()``
    returns the final metrics with the reported metrics of the run as ``.history``
    (:class:`RunResult`). Creating and running a trainer leaves torch's global random
    stream as it was: the trainer's own, seeded by ``training.seed``, is swapped in only
    while it works (:mod:`inference.rngstate`).

    The data section's ``levels`` and ``binarize`` apply to either data
    (:mod:`inference.datasection`); with ``binarize: "dynamic"`` each batch's binary pixels
    are drawn afresh from its grey levels, with the trainer's random stream.
    """

    @rngstate.keeps_global_rng
    def __init__(self, graph, data=None, config=None, objective=None, trust: bool = False,
                 test_data=None, optimizer=None, scheduler=None):
        self.graph = graph
        check_section(graph)  # before the config, which reads data.test_fraction
        self.config = cfg = TrainConfig.for_graph(graph, config)
        self.dist = distributed.current()
        self.device = resolve_device(cfg.device)
        if self.dist and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if self.dist and cfg.batch_size % self.dist.world:
            raise GraphModelError(f"training.batch_size: {cfg.batch_size} does not split evenly over "
                                  f"{self.dist.world} processes")
        #: a Dataset or DataLoader read per step (inference.sources), or None for tensors
        self._source = Stream(graph, cfg, data, test_data, self.device, self.dist) if (
            is_stream(data) or is_stream(test_data)) else None
        if self._source is not None:  # (the first batch of each split: previews for the pictures)
            self._streamed(self._source)
        elif graph.data.get("stream"):  # the examples stay on the host; batches move per step
            self._source = Stream.of_prepared(graph, cfg, prepare(graph, cfg, data, test_data), self.device,
                                              self.dist)
            self._streamed(self._source)
        else:
            ready = prepare(graph, cfg, data, test_data)
            self.n_train = len(next(iter(ready.train.values())))
            self.train_data = {k: v.to(self.device) for k, v in ready.train.items()}
            self.test_data = {k: v.to(self.device) for k, v in ready.test.items()}
            #: where the test split came from, in words; the variables binarized at every batch
            self.test_source, self.dynamic = ready.source, ready.dynamic
            #: what was converted in the data given (float64 to the model's dtype), in words;
            #: each is also reported as a TrainWarning when the run starts
            self.notes = self._unsaid = ready.notes
        self._trusted, self._makers = trust or graph.trusted, (optimizer, scheduler)
        self._sampled_at: int | None = None  # the step of the last Samples event: none twice
        self.batches_per_epoch = self._source.batches_per_epoch if self._source else max(1, self.n_train // cfg.batch_size)
        torch.manual_seed(cfg.seed)
        if not graph.problems():  # a step of this batch size must fit before anything is built
            guard(graph, cfg.batch_size, limit_of(graph, cfg.max_memory, self.device),
                  trusted=trust or graph.trusted, what="training")
        self.runtime = graph.build(trust=trust or graph.trusted).to(self.device)
        if objective is None:
            from .objectives import training_objective

            objective = training_objective(graph)
        players = getattr(objective, "players", objective)  # a game (inference.adversarial.Game) is its players
        self.players = list(players) if isinstance(players, (list, tuple)) else [Player("model", objective)]
        self.objective = objective
        self._losses = _Losses(self.runtime, self.players).to(self.device)  # players' own networks too
        self._engine = self._losses
        if self.dist:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._engine = DDP(self._losses, device_ids=ids, find_unused_parameters=len(self.players) > 1)
        mode = cfg.compile_mode
        if mode:
            # dynamo makes the step number dynamic when it sees its second value (one
            # recompile), after which a new step reuses the code; the weights stay those of
            # self._losses (checkpoints are unchanged)
            self._engine = torch.compile(self._engine, mode=mode)
        #: the compiled step replays CUDA graphs: each call begins a new replay, and the
        #: outputs it returns live in the graphs' memory, overwritten by the next replay
        self._graphs = mode in CUDA_GRAPH_MODES and self.device.type == "cuda"
        if self._source is not None:
            self._source.set_plan([p.steps for p in self.players])
        self.optimizers = [self._optimizer(p) for p in self.players]
        self.schedulers = [self._scheduler(o) for o in self.optimizers]
        self.step = 0
        self.listeners: list[Callable] = []
        #: the reported metrics of this trainer's runs, one record per report (as metrics.jsonl's)
        self.history: list[dict] = []
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._snapshot = None
        self._order = None  # (epoch, permutation on the device)
        self._rollbacks = 0
        self.on_checkpoint: Callable[[int], None] | None = None  # set by callers that write checkpoints
        self.batches_per_epoch = self.batches_per_epoch or 2**62  # (a stream of unknown length: one endless epoch)
        self.total_steps = cfg.steps or (cfg.epochs * self.batches_per_epoch if cfg.epochs else 1000)

    # --- setup ------------------------------------------------------------------------

    def _optimizer(self, player: Player):
        cfg = self.config
        params = (list(self.runtime.parameters()) if player.models is None
                  else self.runtime.parameters_of(*player.models)) + list(player.extra_params)
        if not params:
            raise TrainingError(f"player '{player.name}' has no parameters to train")
        lr = player.lr or cfg.lr
        if self._makers[0] is not None or cfg.optimizer not in OPTIMIZER_WORDS:  # a class by path, or in Python
            return custom_optimizer(self._makers[0], params, lr, cfg, player.betas, self._trusted)
        betas = {"betas": tuple(player.betas)} if player.betas else {}
        if betas and cfg.optimizer not in ("adam", "adamw"):
            raise TrainingError(f"player '{player.name}' sets Adam's betas, but training.optimizer is "
                                f"'{cfg.optimizer}'; use adam or adamw")
        if cfg.optimizer in ("adam", "adamw"):
            make = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
            return _fused_on_cpu(make, params, lr=lr, weight_decay=cfg.weight_decay, **betas)
        if cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=cfg.weight_decay)

    def _scheduler(self, opt):
        cfg = self.config
        if self._makers[1] is not None or cfg.lr_schedule not in SCHEDULE_WORDS:  # a class by path, or in Python
            return custom_scheduler(self._makers[1], opt, cfg, self._planned_steps(), self._trusted)
        if cfg.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self._planned_steps()))
        if cfg.lr_schedule == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
        return None

    def _planned_steps(self) -> int:
        cfg = self.config
        per_epoch = self.batches_per_epoch or 2**62
        return cfg.steps or (cfg.epochs * per_epoch if cfg.epochs else 1000)

    # --- events -----------------------------------------------------------------------

    def subscribe(self, fn: Callable[[ev.Event], None]) -> None:
        """Call ``fn(event)`` with every event of :mod:`inference.events` from now on.

        Events come on the training thread, in order: ``Started``; ``StepMetrics`` every
        ``log_every`` steps (means since the last); ``EpochEnd``; ``Samples`` every
        ``sample_every``; ``CheckpointSaved``; ``TrainWarning``; ``Diverged``; ``Finished``
        with the final metrics. A listener may call :meth:`stop` (early stopping)::

            def stop_when_good(e):
                if isinstance(e, ev.StepMetrics) and e.loss < 60:
                    trainer.stop()

            trainer.subscribe(stop_when_good)
        """
        self.listeners.append(fn)

    @property
    def is_main(self) -> bool:
        """Rank 0 (or the only process): the one that emits events and writes files."""
        return self.dist is None or self.dist.rank == 0

    def emit(self, event: ev.Event) -> None:
        if not self.is_main:
            return
        if type(event) is ev.StepMetrics:
            self.history.append({"step": event.step, "loss": event.loss, **event.terms, "lr": event.lr,
                                 "epoch": event.epoch})
        for fn in self.listeners:
            fn(event)

    def stop(self) -> None:
        """Ask the loop to stop after the current step (safe from another thread)."""
        self._stop.set()

    def pause(self, paused: bool = True) -> None:
        (self._pause.set if paused else self._pause.clear)()

    # --- data -------------------------------------------------------------------------

    def _streamed(self, source: Stream) -> None:
        """Read batches from a Dataset or DataLoader: ``batch_at`` becomes the stream's (the
        tensors' own method is left as it is: their step pays nothing for streams)."""
        self.batch_at = source.batch
        self.n_train, self.train_data = source.n_train, source.preview
        self.test_data = {k: v[:0] for k, v in source.preview.items()}  # (scored batch by batch)
        self.test_source, self.dynamic = source.test_source, ()
        self.notes = self._unsaid = tuple(source.notes)

    def describe_data(self) -> str:
        """The training and test data in words (the command line's ``data:`` line)."""
        if self._source is not None:
            return self._source.describe()
        n_test = len(next(iter(self.test_data.values())))
        return f"{self.n_train} training examples, " + (
            f"{n_test} test ({self.test_source})" if n_test else "no test split (test_fraction is 0)")

    def batch_at(self, step: int) -> dict:
        """The batch of a given step: epoch-wise permutations seeded by (seed, epoch)."""
        bs, n = self.config.batch_size, self.n_train
        epoch, pos = divmod(step, self.batches_per_epoch)
        perm = self._epoch_order(epoch)
        idx = perm[pos * bs: pos * bs + bs] if n >= bs else perm
        if self.dist:  # each rank takes its equal shard of the global batch
            idx = idx.chunk(self.dist.world)[self.dist.rank]
        # (index_select: the same rows as ``v[idx]``, without advanced indexing's general
        # machinery, ~3× faster for a batch of images on a CPU)
        batch = {k: v.index_select(0, idx) for k, v in self.train_data.items()}
        for k in self.dynamic:
            # binarize "dynamic": pixels drawn afresh from the grey levels, on the trainer's random
            # stream (checkpointed: a resumed run draws what the whole one drew). u < p is
            # Bernoulli(p) as torch.bernoulli is, whose CPU kernel draws element by element (~3×
            # slower for a batch of images)
            p = batch[k]
            batch[k] = (torch.rand_like(p) < p).to(p.dtype)
        return batch

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        """The epoch's permutation, on the device: one host-to-device copy per epoch, not per
        step (a blocking copy would wait for the GPU's queue at every step)."""
        if self._order is None or self._order[0] != epoch:
            g = torch.Generator().manual_seed((self.config.seed * 1_000_003 + epoch) % 2**63)
            self._order = (epoch, torch.randperm(self.n_train, generator=g).to(self.device, non_blocking=True))
        return self._order[1]

    # --- the loop ---------------------------------------------------------------------

    def run(self, steps: int | None = None) -> RunResult:
        """Train until ``total_steps`` (or ``steps`` more).

        Returns:
            the final metrics (``{"test loss": …, "test <term>": …}``), with the metrics
            reported during this run as ``.history`` (a list of records ``{"step", "loss",
            <term>…, "lr", "epoch"}``; every run's are in :attr:`history`).
        """
        first = len(self.history)
        with rngstate.active(self):
            metrics = self._run(steps)
        return RunResult(metrics, self.history[first:])

    def _run(self, steps: int | None) -> dict:
        cfg = self.config
        end = self.total_steps if steps is None else min(self.total_steps, self.step + steps)
        self._stop.clear()
        self.emit(ev.Started(self.step, end, str(self.device), self.describe()))
        for note in self._unsaid:  # once, at the first run
            self.emit(ev.TrainWarning(self.step, note))
        self._unsaid = ()
        self._take_snapshot()
        per_step = []
        first_of_interval = self.step
        while self.step < end and not self._stop.is_set():
            while self._pause.is_set() and not self._stop.is_set():
                self._stop.wait(0.05)
            try:
                total, terms = self._train_step(self.step)
            except RuntimeError:
                # NaN weights from an earlier step of this interval can break a step outright
                # (sampling from NaN probabilities raises): report that divergence instead.
                if bool(self._parameters_finite()):
                    raise
                if not per_step or self._report(per_step, first_of_interval):
                    self._diverged(self.step, PARAMETERS)
                per_step, first_of_interval = [], self.step
                continue
            per_step.append((total, terms))
            self.step += 1
            # A checkpoint step is also a report: a checkpoint holds only checked weights, and
            # a run resumed from it reports the same intervals as the uninterrupted one. (Every
            # rank reports there, writer or not: a report is a collective operation.)
            checkpoint = bool(cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0)
            if self.step % cfg.log_every == 0 or self.step == end or self._stop.is_set() or checkpoint:
                ok = self._report(per_step, first_of_interval)
                per_step, first_of_interval = [], self.step
                if not ok:
                    continue
            if self.step % self.batches_per_epoch == 0:
                self.emit(ev.EpochEnd(self.step, self.step // self.batches_per_epoch))
            if cfg.sample_every and self.step % cfg.sample_every == 0:
                self.emit_samples()
            if checkpoint and self.on_checkpoint:
                self.on_checkpoint(self.step)
        if per_step:  # a stop that came after the last step's report check: its steps still count
            self._report(per_step, first_of_interval)
        metrics = self.evaluate()
        if self._sampled_at != self.step:  # the last step may have been a sampling step
            self.emit_samples()
        self.emit(ev.Finished(self.step, metrics, stopped=self._stop.is_set()))
        return metrics

    def _train_step(self, step: int):
        cfg = self.config
        if self.dist:
            # Each rank draws its own noise (its shard of the global batch gets fresh latents and
            # fakes, as one process would draw them), from a stream fixed by (seed, step, rank):
            # a resumed run draws what the uninterrupted one drew, whichever rank saved the state.
            torch.manual_seed(self._noise_seed(step))
        self.runtime.set_step(step)  # parameters that follow a schedule (nothing when none do)
        totals, terms = [], {}
        for k, (player, opt, sched) in enumerate(zip(self.players, self.optimizers, self.schedulers)):
            for j in range(player.steps):
                batch = self.batch_at(step * player.steps + j)
                if self._graphs:
                    torch.compiler.cudagraph_mark_step_begin()
                total, value_terms = self._losses_of(k, batch, step)
                opt.zero_grad(set_to_none=True)
                total.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]],
                                                   cfg.grad_clip)
                opt.step()
                if player.after_step is not None:
                    with torch.no_grad():
                        player.after_step()
            if sched is not None:
                sched.step()
            keep = _copied if self._graphs else torch.Tensor.detach  # (kept until the report)
            totals.append(keep(total))
            prefix = "" if len(self.players) == 1 else f"{player.name}: "
            for name, v in value_terms.items():
                terms[prefix + name] = keep(v)
        total = totals[0] if len(totals) == 1 else torch.stack(totals).sum()
        return total, terms

    def _losses_of(self, k: int, batch: dict, step: int):
        try:
            return self._engine(k, batch, step)
        except torch._dynamo.exc.BackendCompilerFailed as e:
            raise TrainingError(f"training.compile: torch.compile could not compile the objective on this "
                                f"machine ({type(e.inner_exception).__name__}: {str(e.inner_exception)[:300]}); "
                                "set training.compile to false to train without it") from e

    def _report(self, per_step, first: int) -> bool:
        """Read the interval's metrics (one host sync); handle NaN/Inf. False = rolled back."""
        names = list(dict.fromkeys(k for _, s in per_step for k in s))  # every term some step had
        rows = torch.stack([torch.stack([t, *(s.get(k, t * float("nan")) for k in names)])
                            for t, s in per_step]).float()
        # The parameters are checked too: a finite loss can still have NaN gradients, and a
        # snapshot of NaN weights would make every later rollback useless.
        flag = self._parameters_finite().float().reshape(1)
        synced = distributed.average(torch.cat([rows.flatten(), flag]), self.dist).cpu()  # the one host sync
        stacked = synced[:-1].view(rows.shape)
        totals = stacked[:, 0]
        term_vals = {k: stacked[:, i + 1] for i, k in enumerate(names)}
        finite = torch.isfinite(totals)
        if not bool(finite.all()):
            bad = int((~finite).nonzero()[0])
            term = next((k for k in names if k in per_step[bad][1] and not math.isfinite(float(term_vals[k][bad]))),
                        "loss")
            self._diverged(first + bad, term)
            return False
        if float(synced[-1]) != 1.0:
            self._diverged(first + len(per_step) - 1, PARAMETERS)
            return False
        lr = self.optimizers[0].param_groups[0]["lr"]
        self.emit(ev.StepMetrics(self.step, float(totals.mean()),
                                 # nanmean: a term no example of a step had (a batch without
                                 # labeled examples in semi-supervised training) is left out
                                 {k: float(v.nanmean()) for k, v in term_vals.items()}, lr,
                                 self.step // self.batches_per_epoch))
        self._take_snapshot()
        return True

    def _noise_seed(self, step: int) -> int:
        """The seed of one rank's random draws at one step of a data-parallel run."""
        return ((self.config.seed * 1_000_003 + step) * 1_009 + self.dist.rank + 1) % 2**63

    def _parameters_finite(self) -> torch.Tensor:
        """A device scalar, True when every trained parameter is finite (no host sync)."""
        params = [p for o in self.optimizers for g in o.param_groups for p in g["params"]]
        if not params:
            return torch.ones((), dtype=torch.bool, device=self.device)
        return torch.stack([torch.isfinite(p.detach()).all() for p in params]).all()

    def _diverged(self, step: int, term: str) -> None:
        cfg = self.config
        if cfg.on_nan == "stop" or self._rollbacks >= cfg.max_rollbacks:
            self._restore_snapshot()
            self.emit(ev.Diverged(step, term, "stopped"))
            what = (f"the parameters became NaN or Inf in the update of step {step} (the loss was "
                    "finite, its gradients were not)" if term == PARAMETERS
                    else f"loss term '{term}' became NaN or Inf at step {step}")
            raise TrainingError(
                f"{what}; restored the state of step {self.step} and stopped (training.on_nan = {cfg.on_nan!r}"
                f"{', after ' + str(self._rollbacks) + ' rollbacks' if cfg.on_nan == 'rollback' else ''})")
        self._rollbacks += 1
        self._restore_snapshot()
        for opt in self.optimizers:
            for g in opt.param_groups:
                g["lr"] *= 0.5
        self.emit(ev.Diverged(step, term, f"rolled back to step {self.step}, learning rate halved"))

    def _take_snapshot(self) -> None:
        self._snapshot = (self.step, copy.deepcopy(self._losses.state_dict()),  # the runtime and players' nets
                          [copy.deepcopy(o.state_dict()) for o in self.optimizers])

    def _restore_snapshot(self) -> None:
        step, model, opts = self._snapshot
        self.step = step
        self._losses.load_state_dict(model)
        for o, s in zip(self.optimizers, opts):
            lrs = [g["lr"] for g in o.param_groups]
            # a copy: load_state_dict keeps the given tensors (same device and dtype), and the
            # next steps would update the snapshot's moments in place, so that a second rollback
            # restored the diverged ones
            o.load_state_dict(copy.deepcopy(s))
            for g, lr in zip(o.param_groups, lrs):
                g["lr"] = lr

    # --- evaluation and samples -------------------------------------------------------

    def describe(self) -> str:
        if len(self.players) == 1:
            return str(self.players[0].loss)
        return "; ".join(f"{p.name}: {p.loss}" for p in self.players)

    def own_rng(self):
        """Random draws inside this block leave the training RNG stream as it was, so that
        evaluating or sampling between steps never changes what training does next."""
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Mean objective and terms on the test split: ``{"test loss": …, "test <term>": …}``.

        Without a test split (``test_fraction`` 0) they are on the training split, named
        ``"train loss"`` etc., and a :class:`~inference.events.TrainWarning` says so."""
        if self._source is not None:
            return self._source.evaluate(self)
        part = "test" if len(next(iter(self.test_data.values()))) else "train"
        if part == "test":
            data = self.test_data
        else:
            self.emit(ev.TrainWarning(self.step, "no test split (test_fraction is 0): the final metrics are on "
                                                 "the training data"))
            data = for_scoring(self.train_data, self.dynamic, self.config.seed)  # grey levels drawn once
        return {f"{part} {k}": v for k, v in self._score(data).items()}

    @torch.no_grad()
    def _score(self, data: dict) -> dict:
        """Each player's loss and terms on one batch, in eval mode, on a forked random stream."""
        out: dict = {}
        self.runtime.eval()
        try:
            with self.own_rng():
                for p in self.players:
                    prefix = "" if len(self.players) == 1 else f"{p.name}: "
                    val = p.loss(self.runtime, data, self.step)
                    out[prefix + "loss"] = float(val.total)
                    out.update({prefix + k: float(v) for k, v in val.terms.items()})
        finally:
            self.runtime.train()
        return out

    def sample(self, n: int | None = None) -> dict:
        """Samples of the generative model's observed variables (CPU tensors)."""
        return sample_observed(self.graph, self.runtime, n or self.config.num_samples, self.train_data)

    def emit_samples(self) -> None:
        if not self.is_main:
            return
        try:
            with self.own_rng():
                values = self.sample()
        except GraphModelError as e:
            self.emit(ev.TrainWarning(self.step, f"could not sample: {e}"))
            return
        except (RuntimeError, MemoryError) as e:  # pictures are never worth the run's checkpoint and summary
            first = (str(e).strip().splitlines() or [""])[0][:200]
            self.emit(ev.TrainWarning(self.step, f"could not sample {self.config.num_samples} examples "
                                                 f"(training.num_samples): {type(e).__name__}: {first}"))
            return
        if values:
            self._sampled_at = self.step
            self.emit(ev.Samples(self.step, values))

    # --- checkpoints ------------------------------------------------------------------

    def save(self, path) -> None:
        """Write weights, optimizer and RNG state atomically; resuming continues exactly."""
        if not self.is_main:
            return
        save_checkpoint(
            path, self.runtime, self.graph, step=self.step,
            optimizers=[o.state_dict() for o in self.optimizers],
            schedulers=[s.state_dict() if s else None for s in self.schedulers],
            rng=rngstate.current(self)[0],
            cuda_rng=rngstate.current(self)[1],
            config=self.config.to_dict(),
            structure=graph_structure(self.graph),
            extra=self._losses.extra.state_dict(),  # players' networks outside the graph (discriminators)
        )
        self.emit(ev.CheckpointSaved(self.step, str(path)))

    def resume(self, path) -> None:
        """Continue from a checkpoint of :meth:`save`: weights, optimizers, schedules, RNG, step."""
        # Read onto the CPU: load_state_dict copies weights and optimizer moments to where the
        # parameters are, while Adam's step counters and the RNG states must stay on the CPU
        # (a step counter on the GPU costs a device sync per parameter at every step).
        state = load_weights(path, self.graph, self.runtime, map_location="cpu")
        try:
            self._losses.extra.load_state_dict(state.get("extra", {}))
        except RuntimeError as e:
            raise GraphModelError(f"{path}: the players' own networks (a discriminator, say) do not fit the "
                                  f"checkpoint's: {e}") from None
        try:
            for o, s in zip(self.optimizers, state["optimizers"]):
                o.load_state_dict(s)
            for sch, s in zip(self.schedulers, state.get("schedulers", [])):
                if sch is not None and s is not None:
                    sch.load_state_dict(s)
            cuda = list(state.get("cuda_rng") or []) if torch.cuda.is_available() else []
            rngstate.set_current(self, (state["rng"], cuda))
            self.step = int(state["step"])
            if self._source is not None:
                self._unsaid = (*self._unsaid, *self._source.resume_note(self.step))
        except (KeyError, ValueError, RuntimeError, TypeError) as e:
            raise GraphModelError(f"{path}: the checkpoint's training state does not fit ({e})") from None


class RunResult(dict):
    """The final metrics of :meth:`Trainer.run` (a dict), with ``.history``: the records of
    the metrics reported during the run."""

    def __init__(self, metrics: dict, history: list):
        super().__init__(metrics)
        self.history = history


def graph_structure(graph) -> dict:
    """What a checkpoint's weights depend on in ``graph`` (plain data, as the file holds it)."""
    d = graph.to_dict()
    return {k: d[k] for k in _STRUCTURE if k in d}


def structure_difference(saved, here, where: str = "") -> str | None:
    """The first place where two graph structures (plain data) differ, in file notation."""
    if isinstance(saved, dict) and isinstance(here, dict):
        for k in [*saved, *(k for k in here if k not in saved)]:
            sub = f"{where}.{k}" if where else str(k)
            if k not in here:
                return f"{sub} is only in the checkpoint's graph"
            if k not in saved:
                return f"{sub} is only in this graph"
            d = structure_difference(saved[k], here[k], sub)
            if d:
                return d
        return None
    if isinstance(saved, list) and isinstance(here, list) and any(
            isinstance(x, (dict, list)) for x in (*saved, *here)):  # lists of numbers read best whole
        for i, (a, b) in enumerate(zip(saved, here)):
            d = structure_difference(a, b, f"{where}[{i}]")
            if d:
                return d
        if len(saved) != len(here):
            return f"{where}: {len(saved)} entries in the checkpoint's graph, {len(here)} in this graph"
        return None
    if saved != here:
        return f"{where}: {json.dumps(saved)} in the checkpoint's graph, {json.dumps(here)} in this graph"
    return None


def load_weights(path, graph, runtime, map_location="cpu") -> dict:
    """:func:`graphmodel.load_checkpoint`, naming what differs when the graph has changed."""
    try:
        return load_checkpoint(path, graph, runtime, map_location=map_location)
    except GraphModelError as e:
        if "different graph" not in str(e):
            raise
        saved = load_checkpoint(path, map_location="cpu").get("structure")
        diff = structure_difference(saved, graph_structure(graph)) if isinstance(saved, dict) else None
        raise GraphModelError(f"{e}: {diff}" if diff else str(e)) from None


@torch.no_grad()
def sample_observed(graph, runtime, n: int, data: dict | None = None, mean: bool = True,
                    temperature: float = 1.0, extra: tuple = ()) -> dict:
    """Sample the generative model and keep its observed and input variables (on the CPU).

    The model's inputs are filled in so that a grid reads well: class labels cycle through
    every class (a class-conditional grid); other inputs are taken from ``data``. With
    ``mean``, an observed variable shows its distribution's mean given the sampled latents.
    ``temperature`` is the sampling temperature (``ModelRuntime.sample``). ``extra`` names
    other variables to keep (a canvas over its steps, ``inference.strips``).
    """
    gen = next((m for m, k in graph.models.items() if k == "generative"), None)
    if gen is None:
        return {}
    model = runtime.model(gen)
    device = next((b.device for b in runtime.buffers()), None) or next(
        (p.device for p in runtime.parameters()), torch.device("cpu"))
    given = {}
    drawn = {p.jump.delta for p in graph.plates.values() if p.jump is not None}  # δ: drawn with the pair
    for name in model.plan.names[: len(model.plan.inputs)]:
        v = graph.variables[name]
        if name in drawn:
            continue
        if v.support == "categorical":
            given[name] = torch.arange(n, device=device) % v.classes
        elif v.support == "one_hot":
            given[name] = torch.eye(v.shape[-1], device=device)[torch.arange(n, device=device) % v.shape[-1]]
        elif data and name in data:  # spread over the examples, cycled where there are fewer than n
            given[name] = shown(data[name], n)
        else:
            given[name] = _code_of(graph, runtime, gen, name, n, data)
    was = runtime.training
    runtime.eval()
    try:
        trace = model.trace(given or None, n=None if given else n, score=False, temperature=temperature)
    finally:
        runtime.train(was)
    values = dict(trace.values)
    if mean:  # show an observation's expected value (Bernoulli pixels as grey levels), not its noise
        for f in graph.factors_of(gen):
            d = trace.dists.get(f"{gen}({f.label})")
            if graph.variables[f.target].role == "observed" and d is not None and not isinstance(d, list):
                try:
                    values[f.target] = d.mean
                except NotImplementedError:
                    pass
    keep = [k for k, v in graph.variables.items() if (v.role in ("observed", "input") or k in extra) and k in values]
    return {k: values[k].detach().float().cpu() for k in keep}


def _code_of(graph, runtime, gen: str, name: str, n: int, data: dict | None) -> torch.Tensor:
    """An input of the generative model that another model computes from the data (an
    autoencoder's code ``z = f(x)``): that model's value on ``n`` examples spread over the data
    (:func:`inference.data.shown`), so that the samples are reconstructions."""
    for m in graph.models:
        fs = [f for f in graph.factors_of(m) if f.target == name]
        needs = runtime.model(m).plan.names[: len(runtime.model(m).plan.inputs)] if fs else ()
        if m != gen and fs and all(f.deterministic for f in fs) and data and all(k in data for k in needs):
            return runtime.model(m).trace({k: shown(data[k], n) for k in needs}, score=False).values[name]
    raise GraphModelError(f"to sample model '{gen}', a value for its input '{name}' is needed")


def train(graph, data=None, test_data=None, **config) -> Trainer:
    """Train ``graph`` in Python and return the trainer (``trainer.runtime`` holds the weights).

    Without ``test_data``, 10 % of ``data`` is held out as the test split (``test_fraction``)."""
    t = Trainer(graph, data, config, test_data=test_data)
    t.run()
    return t


__all__ = ["PARAMETERS", "Player", "RunResult", "Trainer", "load_weights", "sample_observed", "train", "resolve_device", "available_devices", "split"]
