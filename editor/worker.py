"""Training off the GUI thread, in a process of its own.

A :class:`TrainingRun` starts a process that rebuilds the graph from its file data, builds
a :class:`inference.trainer.Trainer` and runs it. The trainer's events — plain numbers and
CPU tensors — come back through a queue together with the editor's own
:class:`Reconstructions` and :class:`DataPreview`; the GUI drains the queue on a timer.
Nothing in this module touches Qt (the training process never loads it).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
import time
import traceback
from dataclasses import dataclass, field, fields
from dataclasses import replace as dc_replace

import numpy as np
import torch

from graphmodel import GraphModelError
from inference import events as ev


@dataclass(frozen=True)
class Reconstructions(ev.Event):
    """Training inputs and their reconstructions (means of p given z ~ q), variable → tensor."""

    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DataPreview(ev.Event):
    """A few thousand training values of each 2-D variable, drawn behind the samples."""

    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Ended(ev.Event):
    """The thread is done (after Finished, Failed or a stop before the first step)."""


def _first(graph, kind: str) -> str | None:
    return next((m for m, k in graph.models.items() if k == kind), None)


@torch.no_grad()
def reconstruct(graph, runtime, data: dict, n: int = 8) -> tuple[dict, dict]:
    """``(inputs, outputs)``: observed values of ``data`` and p's means given z ~ q(z|x).

    Empty when the graph has no inference model or q reads something the data lacks.
    """
    gen, inf = _first(graph, "generative"), _first(graph, "inference")
    if gen is None or inf is None or not data:
        return {}, {}
    from inference.data import spread

    batch = spread(data, n)
    q, p = runtime.model(inf), runtime.model(gen)
    q_inputs = q.plan.names[: len(q.plan.inputs)]
    if any(k not in batch for k in q_inputs):
        return {}, {}
    tq = q.trace({k: batch[k] for k in q_inputs}, score=False)
    given = {}
    for name in p.plan.names:
        v = graph.variables[name]
        if name in tq.values and v.role == "latent" and tq.values[name] is not None:
            given[name] = tq.values[name]
        elif v.role == "input" and name in batch:
            given[name] = batch[name]
    for name in p.plan.names[: len(p.plan.inputs)]:
        if name not in given:
            return {}, {}
    tp = p.trace(given, score=False)
    inputs, outputs = {}, {}
    for f in graph.factors_of(gen):
        v = graph.variables.get(f.target)
        d = tp.dists.get(f"{gen}({f.label})")
        if v is None or v.role != "observed" or f.target not in batch or d is None or isinstance(d, list):
            continue
        try:
            mean = d.mean
        except NotImplementedError:
            mean = tp.values[f.target]
        inputs[f.target] = batch[f.target].detach().float().cpu()
        outputs[f.target] = mean.detach().float().cpu()
    return inputs, outputs


class _Runner:
    """Builds the trainer and runs it, putting every event (and the editor's own) into ``put``.

    With ``run_dir`` the run is kept there as ``graphmodel train`` keeps one (metrics,
    ``checkpoint.pt`` — also when stopped — pictures, summary, and the graph as ``graph.json``);
    with ``resume`` it continues from that checkpoint."""

    def __init__(self, graph, config: dict, data, put, run_dir=None, resume=None, wanted=None):
        self.graph, self.config, self.data, self.put = graph, config, data, put
        self.run_dir, self.resume = run_dir, resume
        self.wanted = wanted  # what the sample panel asks for (``previews.encode_wanted``), shared memory
        self.previews = None
        self.trainer = None
        self.stopped = False
        self.paused = False

    def stop(self) -> None:
        self.stopped = True
        if self.trainer is not None:
            self.trainer.stop()

    def pause(self, paused: bool) -> None:
        if paused != self.paused:
            self.paused = paused
            if self.trainer is not None:
                self.trainer.pause(paused)

    def main(self) -> None:
        from inference.trainer import Trainer

        try:
            trainer = Trainer(self.graph, data=self.data, config=self.config)
            self.trainer = trainer
            if self.resume is not None:
                trainer.resume(self.resume)
            trainer.pause(self.paused)
            if self.stopped:
                return
            from .previews import Previews

            self.previews = Previews(self.graph, self.wanted)
            self._preview(trainer)
            writer = self._writer(trainer)
            trainer.subscribe(self._listen)
            try:
                trainer.run()
            finally:
                if writer is not None:
                    writer.close()
        except GraphModelError as e:
            self.put(ev.Failed(getattr(self.trainer, "step", 0), str(e)))
        except Exception as e:  # noqa: BLE001 - a bug in training must reach the user, not vanish
            detail = traceback.format_exception_only(type(e), e)[-1].strip()
            self.put(ev.Failed(getattr(self.trainer, "step", 0), f"training failed: {detail}"))
        finally:
            self.put(Ended(getattr(self.trainer, "step", 0)))

    def _writer(self, trainer):
        if self.run_dir is None:
            return None
        from pathlib import Path

        from graphmodel.fileio import save
        from inference.outputs import RunWriter

        writer = RunWriter(self.run_dir, trainer, trainer.step if self.resume is not None else None)
        save(self.graph, Path(self.run_dir) / "graph.json")
        trainer.subscribe(writer)
        return writer

    def _listen(self, event) -> None:
        self.put(event)
        if isinstance(event, ev.Samples):
            t = self.trainer
            for extra in self.previews.after_samples(t, event.step) if self.previews is not None else ():
                self.put(extra)
            try:
                with torch.random.fork_rng(devices=[t.device] if t.device.type == "cuda" else []):
                    was = t.runtime.training
                    t.runtime.eval()
                    try:
                        inputs, outputs = reconstruct(self.graph, t.runtime, t.train_data)
                    finally:
                        t.runtime.train(was)
            except (GraphModelError, RuntimeError) as e:
                self.put(ev.TrainWarning(event.step, f"could not reconstruct: {e}"))
                return
            if outputs:
                self.put(Reconstructions(event.step, inputs, outputs))

    def _preview(self, trainer) -> None:
        values = {k: v[:2000].detach().float().cpu() for k, v in trainer.train_data.items()
                  if k in self.graph.variables and self.graph.variables[k].shape == (2,)  # (not "time.length")
                  and self.graph.variables[k].plate is None}  # (a stroke model's offsets are drawings, not points)
        if values:
            self.put(DataPreview(trainer.step, values))


def _convert(event, fn):
    """``event`` with every tensor (or array) in its dict fields passed through ``fn``."""
    changes = {}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, dict) and any(isinstance(v, (torch.Tensor, np.ndarray)) for v in value.values()):
            changes[f.name] = {k: fn(v) if isinstance(v, (torch.Tensor, np.ndarray)) else v for k, v in value.items()}
    return dc_replace(event, **changes) if changes else event


def to_wire(event):
    """Tensors as numpy arrays: pickled by value, so the reader never needs the sender alive
    (torch would share their memory through a file descriptor of the sending process)."""
    return _convert(event, lambda t: t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t)


def from_wire(event):
    return _convert(event, lambda a: torch.from_numpy(a) if isinstance(a, np.ndarray) else a)


#: How much the training process yields to the editor (and to the user's other programs).
NICENESS = 10


def background() -> None:
    """Make this process a background one: lower its scheduling priority and leave a core
    to the editor's own process.

    Training saturates the cores it is given; at the same priority as the window, the
    window's timer and repaints would wait behind it for whole scheduler slices on a busy
    machine. At a lower priority the trainer takes what the window leaves and loses nothing
    on an idle machine. More threads than free cores only slow torch down (they spin on each
    other), hence one core fewer than the machine has.
    """
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):  # Windows has no nice; a sandbox may refuse it
        pass
    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))


def _child(graph_data: dict, trusted: bool, config: dict, data, out, stop, pause, run_dir=None,
           resume=None, wanted=None) -> None:
    """The training process: rebuild the graph from its file data and train it."""
    from graphmodel.fileio import graph_from_dict

    background()
    graph = graph_from_dict(graph_data, validate=False)
    graph.trusted = trusted
    runner = _Runner(graph, config, data, lambda e: out.put(to_wire(e)), run_dir, resume, wanted)
    done = threading.Event()

    def watch():  # the parent's stop and pause requests, seen between steps
        while not done.is_set():
            if stop.is_set():
                runner.stop()
                runner.pause(False)
                return
            runner.pause(pause.is_set())
            time.sleep(0.03)

    threading.Thread(target=watch, daemon=True).start()
    try:
        runner.main()
    finally:
        done.set()
        out.close()
        out.join_thread()


#: Imported once by the fork server, so that a run starts without importing torch again.
PRELOAD = ["torch", "graphmodel", "inference.trainer", "inference.objectives", "editor.worker", "sklearn.datasets"]


def _context():
    """A fork server where there is one (a clean, single-threaded process with the heavy
    imports done, from which each run is forked), else spawn. Never a plain fork of the
    editor: it runs Qt's threads."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)  # modules it cannot import are skipped
        return ctx
    return mp.get_context("spawn")


def warm_up() -> None:
    """Start the fork server now (in the background), so the first Start is quick."""
    if _context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class TrainingRun:
    """One training run in a separate process.

    A process, not a thread: the trainer's Python work and torch's occasional long calls
    that hold the interpreter lock would otherwise stall the window for a few hundred
    milliseconds at a time. The graph goes over as its file data (it holds no code), the
    events come back through a queue as plain data. Runs are forked from a fork server that
    has torch imported already (see :func:`warm_up`).

    The process is started from a short-lived thread: starting it waits for the fork server
    to answer, which takes as long as the server's imports when Start comes right after the
    window opened (``graphmodel demo`` starts at once). Until it has started the queue is
    simply empty; stop and pause requests wait in their events.

    Args:
        graph: the document's graph (a copy is trained; editing goes on meanwhile).
        config: overrides of the graph's training section (steps, sample_every, ...).
        data: variable → tensor, or None to load the graph's data section.
        run_dir: keep the run there (metrics, checkpoint, pictures), as the command line does.
        resume: a checkpoint to continue from.
        wanted: what the sample panel shows besides samples (:meth:`want`).
    """

    def __init__(self, graph, config: dict | None = None, data: dict | None = None, run_dir=None, resume=None,
                 wanted: dict | None = None):
        from .previews import WANTED_BYTES

        ctx = _context()
        self.queue = ctx.Queue()
        self._stop = ctx.Event()
        self._pause = ctx.Event()
        self._wanted = ctx.Array("c", WANTED_BYTES)
        self.want(wanted or {})
        self.paused = False
        self.process = ctx.Process(target=_child, name="graphmodel-training", daemon=True,
                                   args=(graph.to_dict(), graph.trusted, dict(config or {}), data,
                                         self.queue, self._stop, self._pause,
                                         None if run_dir is None else str(run_dir),
                                         None if resume is None else str(resume), self._wanted))
        self.run_dir = run_dir
        self._launcher = threading.Thread(target=self._launch, name="graphmodel-training-start", daemon=True)
        self._launch_error: str | None = None

    def start(self) -> None:
        """Start the process in the background; returns at once."""
        self._launcher.start()

    def _launch(self) -> None:
        try:
            self.process.start()
        except Exception as e:  # noqa: BLE001 - reported through get_nowait, on the GUI thread
            self._launch_error = f"could not start the training process: {type(e).__name__}: {e}"

    @property
    def alive(self) -> bool:
        return self._launcher.is_alive() or self.process.is_alive()

    def stop(self) -> None:
        """Ask the run to stop after the current step (the trainer then samples and finishes)."""
        self._stop.set()

    def pause(self, paused: bool = True) -> None:
        self.paused = paused
        (self._pause.set if paused else self._pause.clear)()

    def want(self, wanted: dict) -> None:
        """Tell the run what the sample panel shows (``{"completions": "top-half"}``); read by
        the training process when it next draws samples."""
        from .previews import encode_wanted

        raw = encode_wanted(wanted)
        with self._wanted.get_lock():
            self._wanted.raw = raw + b"\0" * (len(self._wanted.raw) - len(raw))

    def get_nowait(self):
        """The next event; ``Ended`` also when the process died (or never started) without saying so."""
        try:
            return from_wire(self.queue.get_nowait())
        except queue.Empty:
            if isinstance(self.process, _Dead):  # its failure was reported: the run is over
                return Ended(0)
            if self._launch_error is not None:
                self.process = _Dead(None)
                return ev.Failed(0, self._launch_error)
            if self.process.exitcode not in (None, 0):
                code = self.process.exitcode
                self.process = _Dead(code)
                return ev.Failed(0, f"the training process ended unexpectedly (exit code {code})")
            raise

    def join(self, timeout: float | None = None) -> None:
        """Wait for the process; with ``timeout=0`` just reap it if it has exited."""
        if self._launcher.ident is not None:
            self._launcher.join(timeout)
        if isinstance(self.process, _Dead) or self._launcher.is_alive() or self.process.pid is None:
            return  # never started (or still starting after the timeout): nothing to wait for
        self.process.join(timeout)
        if timeout and self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


class _Dead:
    """Stands for a process that ended abnormally (its failure has been reported)."""

    def __init__(self, exitcode):
        self.exitcode = exitcode

    def is_alive(self) -> bool:
        return False
