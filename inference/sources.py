"""Training data read batch by batch: a ``Dataset`` or a ``DataLoader`` instead of tensors.

The trainer takes a dict of tensors (held on the device whole: the fast path,
:meth:`inference.trainer.Trainer.batch_at`) or one of these, read per step (:class:`Stream`):

- a **map-style** ``torch.utils.data.Dataset``: the trainer draws the batches itself, with
  the same seeded epoch permutations as for tensors (the same examples in the same order as
  the dict of the same data), fetched by a ``DataLoader`` of its own (``data.workers``
  processes; pinned memory when training on a GPU). A batch depends only on the step, so a
  run is deterministic and resumes exactly — as long as an item depends only on its index
  (random augmentation inside ``__getitem__`` is drawn afresh). Unless ``test_data`` is given,
  ``test_fraction`` of the items is held out by the same seeded split as for tensors.
- an **iterable** ``Dataset`` (batched by ``training.batch_size``) or a **``DataLoader``** the
  user made (its own batch size, sampler, workers and collate): read in its order, a new pass
  when one ends. A resumed run starts a fresh pass (a ``TrainWarning`` says so), and without
  ``test_data`` there is no test split: the final metrics are on the first
  :data:`TRAIN_EVAL_BATCHES` batches of the training data, named so.

An item (or a batch) is a dict, a tuple or a single tensor. A dict's keys are its fields,
bound to variables by name (``data.bind`` maps variable → field); a tuple's fields are its
positions, bound by ``data.bind`` as ``{"x": 0, "y": 1}``; a single field binds the graph's
only observed variable by itself. The first batch is checked as tensors are
(:func:`inference.data.check_fields`: shape, dtype, support) before the first step, float64
converted to the model's dtype with a note, and every later batch must keep its shapes and
dtypes (checked on the host, no device sync).
"""

from __future__ import annotations

import itertools

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from graphmodel.errors import DataError

from .batches import StepSampler, TensorItems, collate_of, fields_of, getter, length_of, workers_for
from .data import binding_of, check_fields
from .datacheck import check_tensor
from .datasection import _binary_observed, drawn, quantized

#: batches of a stream without a test split that the final metrics are computed on
TRAIN_EVAL_BATCHES = 100
#: examples per batch when a test split is scored (a mean over batches, weighted by size)
EVAL_BATCH = 1024


def is_stream(data) -> bool:
    """Whether ``data`` is a ``Dataset`` or a ``DataLoader`` (read per step), not tensors."""
    return isinstance(data, (Dataset, DataLoader))


class Stream:
    """Batches of a ``Dataset`` or ``DataLoader`` for a trainer, bound and on its device.

    Args:
        graph: the graph (its data section: ``bind``, ``lengths``, ``levels``, ``binarize``,
            ``workers``).
        config: the :class:`inference.config.TrainConfig` (batch size, seed, test fraction).
        data: the training data: a ``Dataset`` (map-style or iterable) or a ``DataLoader``.
        test_data: the test split (a dict of tensors, a ``Dataset`` or a ``DataLoader``), or None.
        device: where batches go.
        dist: the data-parallel group (``inference.distributed.current()``) or None.
    """

    def __init__(self, graph, config, data, test_data, device, dist=None, prepared: bool = False):
        section = graph.data
        if not prepared:  # (prepared tensors had them applied already: inference.datasection.prepare)
            _refuse_whole_data_settings(section)
        self._levels, self._prepared = (None if prepared else section.get("levels")), prepared
        self.graph, self.config, self.device = graph, config, device
        self.pin = device.type == "cuda"
        self.shard = (dist.rank, dist.world) if dist else None
        self.exact = not isinstance(data, (DataLoader, IterableDataset))
        self.notes: list[str] = []
        self.plan = (1,)
        self._it = self._last = None
        self._last_k = -1
        held_out = None
        if self.exact:
            data, held_out = self._held_out(data, test_data)
            test_data = held_out if test_data is None else test_data
            self.dataset, self.workers = data, workers_for(section, data)
            self.n_train, self.batches_per_epoch = len(data), max(1, len(data) // config.batch_size)
            first = self._collate(self._sampler(0).indices(0))
        else:
            self.workers = workers_for(section, data)
            self.loader = data if isinstance(data, DataLoader) else DataLoader(
                data, batch_size=config.batch_size, num_workers=self.workers, pin_memory=self.pin)
            self.n_train = length_of(getattr(self.loader, "dataset", None))
            self.batches_per_epoch = length_of(self.loader)
            if self.batches_per_epoch is None and config.epochs and not config.steps:
                raise DataError("training.epochs: the data has no length (an iterable Dataset), so an epoch is not "
                                "known; set training.steps")
            self._it = iter(self.loader)
            first = self._pending = self._next_raw()
        self._plans: dict = {}
        self._kinds: dict = {}
        self._plan_binding(first)
        self.preview = self._bound(first, check=True, dynamic=False)
        held = self.exact and test_data is not None and test_data is held_out
        self.test = self._test_batches(test_data)
        self.test_source = ("no test split" if self.test is None else
                            f"test_fraction {config.test_fraction:g} of the items, held out" if held else
                            "the test data given")

    @classmethod
    def of_prepared(cls, graph, config, ready, device, dist=None) -> Stream:
        """The data section's ``stream``: the splits :func:`inference.datasection.prepare`
        made (bound, checked, split, quantized; labels hidden), kept in host memory and read
        batch by batch — the same batches as the tensors held on the device would give."""
        test = ready.test if len(next(iter(ready.test.values()))) else None
        out = cls(graph, config, TensorItems({k: v.cpu() for k, v in ready.train.items()}), test, device, dist,
                  prepared=True)
        out.test_source = ready.source if test is not None else "no test split"
        out.notes = [*ready.notes, *out.notes]
        return out

    # --- the training split -------------------------------------------------------------

    def _held_out(self, data, test_data):
        """``(training items, held-out test items or None)``: ``test_fraction`` of a map-style
        dataset held out by the split that tensors get, unless a test split is given."""
        from .datasection import split_indices

        if len(data) == 0:
            raise DataError("the dataset is empty: it has 0 items; expected at least one")
        if test_data is not None or self.config.test_fraction == 0 or self._prepared:
            return data, None
        train_idx, test_idx = split_indices(len(data), self.config.test_fraction, self.config.seed)
        return Subset(data, train_idx.tolist()), Subset(data, test_idx.tolist())

    def _sampler(self, start_step: int) -> StepSampler:
        return StepSampler(self.n_train, self.config.batch_size, self.config.seed, self.plan, start_step, self.shard)

    def _collate(self, indices: list):
        """One batch fetched here (the first, to check; or one asked for out of sequence)."""
        collate = collate_of(self.dataset)
        if hasattr(self.dataset, "__getitems__"):
            return collate(self.dataset.__getitems__(indices))
        return collate([self.dataset[i] for i in indices])

    def _restart(self, k: int) -> None:
        """A fresh reader whose batches begin with the training step that asks for batch ``k``."""
        sampler = self._sampler(k // self.plan[0])
        self._keys = sampler.keys()
        self._it = iter(self._reader(self.dataset, sampler=sampler, seed=k))

    def _reader(self, dataset, batch_size: int | None = None, sampler=None, seed: int = -1) -> DataLoader:
        """A DataLoader of ours over ``dataset``, in order or by ``sampler``. Its generator (the
        workers' seeds) is seeded from the run's seed: making its iterator draws nothing from
        the trainer's random stream, which stays the latents' and the binary pixels'."""
        gen = torch.Generator().manual_seed((self.config.seed * 1_000_003 + seed + 17) % 2**63)
        workers = self.workers if self.exact else 0
        how = {"batch_sampler": sampler} if sampler is not None else {"batch_size": batch_size}
        return DataLoader(dataset, **how, num_workers=workers, pin_memory=self.pin, generator=gen,
                          collate_fn=collate_of(dataset))

    def batch(self, k: int) -> dict:
        """Batch number ``k`` (the trainer's ``batch_at``), bound and on the device."""
        if k != self._last_k:
            self._last = self._exact_raw(k) if self.exact else self._next_raw()
            self._last_k = k
        # (another player of the same step reads it again: bound afresh, binary pixels drawn
        # anew, as the tensors' batch_at draws them at each call)
        return self._bound(self._last)

    def _exact_raw(self, k: int):
        """Batch ``k`` from the reader when it comes next (it does, step after step), else fetched
        here; a reader that has fallen out of sequence (a resume, a jump) starts afresh."""
        if self._it is None or self._expected != k:
            self._restart(k)
            for _ in range(sum(self.plan)):  # the first of the step that asks for k comes first
                self._expected = next(self._keys)
                if self._expected == k:
                    break
                next(self._it)
            else:
                self._it = None
                return self._collate(self._sampler(0).indices(k))
        raw = next(self._it)
        self._expected = next(self._keys)
        return raw

    def _next_raw(self):
        """The next batch of a DataLoader or iterable dataset; a new pass where one ends."""
        if getattr(self, "_pending", None) is not None:
            raw, self._pending = self._pending, None
            return raw
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self.loader)
        try:
            return next(self._it)
        except StopIteration:
            raise DataError("the data gave no batch: its DataLoader or iterable dataset is empty") from None

    def set_plan(self, plan: tuple) -> None:
        """The players' updates per training step: one batch each, asked for in this order."""
        self.plan = tuple(plan) or (1,)

    def resume_note(self, step: int) -> list:
        """What a resumed run should be told: a DataLoader starts a fresh pass, not where it was."""
        if self.exact or step == 0:
            return []
        return [f"resumed at step {step}: the DataLoader starts a fresh pass, so the batches differ from the "
                "uninterrupted run's (a map-style Dataset resumes exactly)"]

    # --- binding and checks -------------------------------------------------------------

    def _plan_binding(self, raw) -> list:
        """Which field of a batch binds which variable: ``[(variable, key or position)]``, read
        once per kind of batch (the test split's items may differ from the training items)."""
        fields, section = fields_of(raw), self.graph.data
        if fields in self._plans:
            return self._plans[fields]
        observed = [v.name for v in self.graph.variables.values() if v.role == "observed"]
        binding = None
        if self._prepared:
            binding = {}  # (prepared tensors are keyed by variable already)
        elif fields == ("0",) and not section.get("bind") and len(observed) == 1:
            binding = {observed[0]: "0"}  # one field, one observed variable
        elif not isinstance(raw, dict) and not section.get("bind"):
            raise DataError(f"the data's items are tuples of {len(fields)} fields; bind their positions to "
                            f"variables in data.bind, e.g. {{\"{(observed or ['x'])[0]}\": 0}}")
        names = binding_of(self.graph, fields, binding)
        plan = self._plans[fields] = [(var, getter(raw, field)) for var, field in names.items()]
        if not hasattr(self, "grey"):  # (the first batch's)
            self.grey = _binary_observed(self.graph, names) if section.get("binarize") else ()
            self.dynamic = self.grey if section.get("binarize") == "dynamic" else ()
        return plan

    def _bound(self, raw, check: bool = False, dynamic: bool = True) -> dict:
        """A collated batch as variable → tensor on the device: float64 in the model's dtype,
        ``data.levels`` applied, binary pixels drawn where ``binarize`` is dynamic (training
        batches; a scored batch's are drawn once, seeded, by :func:`for_scoring_batch`)."""
        out = {}
        for var, key in self._plans.get(fields_of(raw)) or self._plan_binding(raw):
            x = raw if key is None else raw[key]
            if not isinstance(x, torch.Tensor):  # numpy from a collate of the user's
                x = torch.as_tensor(x)
            out[var] = x
        if check:
            self._first_checks(out)
        else:
            self._same_kinds(out)
        if self._levels is not None:
            out = quantized(self.graph, out, self._levels)
        if self.shard and not self.exact:
            out = {k: v.chunk(self.shard[1])[self.shard[0]] for k, v in out.items()}
        if self.pin:  # a copy from pageable memory would wait for the GPU's queue at every step
            out = {k: v if v.is_pinned() else v.pin_memory() for k, v in out.items()}
        out = {k: v.to(self.device, dtype=self._kinds[k][1], non_blocking=self.pin) for k, v in out.items()}
        for k in self.dynamic if dynamic else ():  # as Trainer.batch_at draws them: on the trainer's stream
            p = out[k]
            out[k] = (torch.rand_like(p) < p).to(p.dtype)
        return out

    def _first_checks(self, out: dict) -> None:
        """The first batch checked as tensors are (shape, dtype, support); float64 converted."""
        model = torch.get_default_dtype()
        for var, x in out.items():
            check_tensor(var, x)
            to = model if x.is_floating_point() and x.dtype != model else x.dtype
            if to != x.dtype:
                self.notes.append(f"variable '{var}': data of dtype {x.dtype} converted to the model's {to}")
            self._kinds[var] = (x.dtype, to, x.dim())
        check_fields(self.graph, {k: v.to(self._kinds[k][1]) for k, v in out.items()}, self.grey)

    def _same_kinds(self, out: dict) -> None:
        """Later batches keep the first one's dtypes, dims and event shapes (host metadata only)."""
        for var, x in out.items():
            dtype, _, dim = self._kinds[var]
            v = self.graph.variables.get(var)
            event = tuple(v.shape) if v is not None else ()
            if x.dtype != dtype or x.dim() != dim or (event and tuple(x.shape[-len(event):]) != event):
                raise DataError(f"variable '{var}': a batch has dtype {x.dtype} and shape {tuple(x.shape)}, but the "
                                f"first batch had dtype {dtype} and {dim} dims (…, {', '.join(map(str, event))})")

    # --- the test split -----------------------------------------------------------------

    def _test_batches(self, test_data):
        """A reader of the test split's batches (a function returning an iterable), or None."""
        if test_data is None:
            return None
        if isinstance(test_data, dict):
            from .data import bind
            from .datacheck import to_model_dtype

            tensors, notes = to_model_dtype(bind(self.graph, test_data, binding={}))
            self.notes += [f"test_data: {n}" for n in notes]
            check_fields(self.graph, tensors, self.grey)
            n = len(next(iter(tensors.values())))  # (kept on the host: moved chunk by chunk when scored)
            return lambda: ({k: v[i:i + EVAL_BATCH].to(self.device) for k, v in tensors.items()}
                            for i in range(0, n, EVAL_BATCH))
        loader = test_data if isinstance(test_data, DataLoader) else self._reader(test_data, EVAL_BATCH)
        if length_of(loader) == 0:
            raise DataError("test_data: the test split is empty; expected at least one example")
        return lambda: (self._bound(raw, dynamic=False) for raw in loader)

    def evaluate(self, trainer) -> dict:
        """The trainer's objective over the test split, batch by batch (a mean weighted by
        the batches' sizes); without one, over the first batches of the training data."""
        from . import events as ev

        part, batches = "test", None
        if self.test is not None:
            batches = (for_scoring_batch(b, self.grey, self.config.seed, i) for i, b in enumerate(self.test()))
        else:
            part = "train"
            trainer.emit(ev.TrainWarning(trainer.step, "no test split (give test_data=...): the final metrics are on "
                                                       f"the first {TRAIN_EVAL_BATCHES} batches of the training data"))
            batches = self._training_batches()
        sums, count = {}, 0
        for batch in batches:
            n = len(next(iter(batch.values())))
            for k, v in trainer._score(batch).items():
                sums[k] = sums.get(k, 0.0) + v * n
            count += n
        return {f"{part} {k}": v / max(count, 1) for k, v in sums.items()}

    def _training_batches(self):
        """The first training batches in a fixed order, grey levels drawn once per batch."""
        loader = self._reader(self.dataset, EVAL_BATCH) if self.exact else self.loader
        for i, raw in enumerate(itertools.islice(loader, TRAIN_EVAL_BATCHES)):
            yield for_scoring_batch(self._bound(raw, dynamic=False), self.grey, self.config.seed, i)

    def describe(self) -> str:
        """The data in words, for the command line's ``data:`` line."""
        what = f"{self.n_train} training examples" if self.n_train is not None else "a stream of training batches"
        return f"{what} read per step ({self.test_source})"


def for_scoring_batch(batch: dict, names: tuple, seed: int, i: int) -> dict:
    """A test batch's binary pixels drawn once from its grey levels, as a whole split's are
    (:func:`inference.datasection.for_scoring`), seeded per batch."""
    return drawn(batch, names, seed + 104_729 + 7_919 * i)


def _refuse_whole_data_settings(section: dict) -> None:
    """The data section's settings that need the whole data in memory, refused for a stream."""
    if section.get("labels_per_class") is not None:
        raise DataError("data.labels_per_class: hides labels over the whole training split, which needs the data "
                        "as tensors; hide them in your Dataset (NaN or -1) or pass a dict of tensors")
    if section.get("binarize") == "fixed":
        raise DataError("data.binarize: 'fixed' draws the pixels once over the whole split, which needs the data as "
                        "tensors; use 'dynamic' or binarize in your Dataset")
