"""The ``graphmodel`` command line.

Every user mistake ends in one line on stderr and a non-zero exit code; a traceback is
printed only with ``--debug``.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

import graphmodel as gm
from graphmodel.render.formula import flow_text
from inference.config import COMPILE_MODES
from inference.loggers import LOGGERS


def _load(path, trust=False, validate=False, args=None):
    try:
        g = gm.load(path, validate=validate, trust=trust)
        if args is not None and (getattr(args, "data", None) or getattr(args, "bind", None)):
            from inference.sourcearg import with_source

            with_source(g, args.data, args.bind)  # --data, --bind: the data section from the command line
        return g
    except gm.GraphFileError as e:  # name the file, as the problem lines of `check` do
        msg = str(e)
        if msg.startswith(str(path)):
            raise
        msg = msg[len("file: "):] if msg.startswith("file: ") else msg
        raise gm.GraphFileError(f"{path}: {msg}") from None


MAX_MEMORY_HELP = ("the most memory a training step may take, e.g. 8GB or 512MiB (default: the file's "
                   "training.max_memory, else half of this machine's memory or 90%% of a GPU's)")


def _memory_line(g, args) -> str:
    """``memory: … (limit …)`` for ``check``, or a ``ResourceError`` when over the limit."""
    from graphmodel.budget import bytes_text, check_budget, estimate, limit_of

    batch = g.training.get("batch_size", 128) if isinstance(g.training.get("batch_size"), int) else 128
    limit = limit_of(g, getattr(args, "max_memory", None))
    est = estimate(g, trusted=args.trust)
    check_budget(est, batch, limit)
    return f"memory: {est.describe(batch)} (limit {bytes_text(limit)})"


def _check_settings(g) -> None:
    """What ``train`` refuses before its first step, refused by ``check`` too: the data
    section, the training settings (typos, ranges, seeds) and a device this machine lacks."""
    from inference.config import TrainConfig
    from inference.datasection import check_section
    from inference.trainer import resolve_device

    check_section(g)
    resolve_device(TrainConfig.for_graph(g).device)


def cmd_check(args) -> int:
    g = _load(args.file, trust=args.trust, args=args)
    problems = g.problems()
    if problems:
        for p in problems:
            loc = f"factors[{p.factor}]: " if p.factor is not None else ""
            print(f"{args.file}: {loc}{p}", file=sys.stderr)
        return 1
    try:
        _check_settings(g)
    except gm.GraphModelError as e:
        print(f"{args.file}: {e}", file=sys.stderr)
        return 1
    print(f"graph '{g.name}': {len(g.variables)} variables, {len(g.factors)} factors")
    for m, kind in g.models.items():
        view = g.model(m)
        print(f"{kind} model {view}")
        order = " → ".join(view.order)
        ins = f"   (given: {', '.join(view.inputs)})" if view.inputs else ""
        print(f"  order: {order}{ins}")
        for line in _sharing(g, m):
            print(f"  {line}")
        for f in g.factors_of(m):
            if f.flow:
                print(f"  flow {flow_text(g, f)}")
    print(_memory_line(g, args))
    objective = _objective_text(g)
    if objective:
        print(f"objective: {objective[0]}")
        for line in objective[1:]:
            print(f"  {line}")
    return 0


def _sharing(g, model: str) -> list[str]:
    """What ``model`` computes with another model's factors, and what it is given by one."""
    from graphmodel.engine import analyze

    a, out = analyze(g), []
    for i in a.members.get(model, ()):
        f = g.factors[i]
        if f.model != model:
            out.append(f"computes {f.target} with {f.model}'s deterministic factor {f.model}({f.label}) "
                       "(borrowed: one network for both models)")
    for n in a.inputs.get(model, ()):
        by = [f for f in g.factors if f.target == n and f.model != model and f.deterministic]
        if g.variables[n].role == "latent" and by:
            out.append(f"reads {n} from {by[0].model}({by[0].label}), a function of the data '{model}' generates "
                       f"(borrowing it would close a cycle): '{model}' decodes {by[0].model}'s codes and cannot be "
                       "sampled on its own")
    return out


def _objective_text(g) -> list[str] | None:
    """The derived objective as a formula and notes on it, or None when the objective stage
    is absent."""
    try:
        from inference.objectives import derive, formula_of, point_posterior, unused_models
    except ImportError:
        return None
    formula = formula_of(g)
    notes = [f"formula: {formula}"] if formula else []
    return [str(derive(g)), *notes, *point_posterior(g), *(f"warning: {w}" for w in unused_models(g))]


def cmd_render(args) -> int:
    from graphmodel.render.dot import render

    g = _load(args.file, trust=args.trust)
    render(g, args.output)
    print(f"wrote {args.output}")
    return 0


def _overrides(args) -> dict:
    out = {}
    for key in ("steps", "epochs", "device", "seed", "batch_size", "lr", "max_memory"):
        v = getattr(args, key, None)
        if v is not None:
            out[key] = v
    if getattr(args, "compile_mode", None):
        out["compile"] = args.compile_mode
    elif getattr(args, "compile", False):
        out["compile"] = True
    if out.get("steps"):
        out["epochs"] = None
    if out.get("epochs"):  # the file's steps would otherwise win over --epochs
        out["steps"] = None
    return out


def cmd_train(args) -> int:
    from inference import distributed
    from inference.trainer import Trainer

    g = _load(args.file, trust=args.trust, validate=True, args=args)
    if args.threads is not None:
        if args.threads < 1:
            raise gm.GraphModelError(f"--threads: expected a positive number of threads, found {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    joined = distributed.launched() and not distributed.initialized()
    distributed.init()  # joins torchrun's process group; a no-op in a single process
    try:
        return _train(args, g, Trainer(g, config=_overrides(args), trust=args.trust))
    finally:
        if joined:
            distributed.shutdown()


def _train(args, g, trainer) -> int:
    from inference.runs import train_run

    return train_run(trainer, args.out, resume=args.resume, overwrite=args.overwrite, quiet=args.quiet,
                     loggers=args.logger, source=args.file)


def cmd_examples(args) -> int:
    from graphmodel import examples

    if args.action is None:
        width = max(map(len, examples.names()))
        for name in examples.names():
            print(f"{name:<{width}}  {examples.summary(name)}")
        print(f"\ngraphmodel examples copy NAME DIR  writes NAME.py and NAME.json into DIR (from {examples.folder()})")
        return 0
    if args.action != "copy" or len(args.names) != 2:
        raise gm.GraphModelError("usage: graphmodel examples [copy NAME DIR]")
    for path in examples.copy(*args.names, overwrite=args.overwrite):
        print(f"wrote {path}")
    return 0


def cmd_schema(args) -> int:
    from graphmodel.atomic import write_text
    from inference.schema import schema_text

    if args.output:
        write_text(args.output, schema_text())
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(schema_text())
    return 0


def cmd_plot(args) -> int:
    from inference.runplots import plot_runs

    print(f"wrote {plot_runs(args.runs, args.output, args.keys)}")
    return 0


def _trained(args):
    """The graph, its runtime with the checkpoint's weights (in eval mode), and the checkpoint."""
    from inference.trainer import load_weights

    g = _load(args.file, trust=args.trust, validate=True, args=args)
    runtime = g.build(trust=args.trust)
    state = load_weights(args.checkpoint, g, runtime)
    runtime.eval()
    return g, runtime, state


def _test_data(g) -> tuple[dict, str]:
    """The graph's data section prepared as training prepares it, and the split to score:
    ``(test split, "test")``, or ``(training split, "train")`` when there is no test split
    (its binary pixels drawn once where the section binarizes)."""
    from inference.config import TrainConfig
    from inference.datasection import check_section, for_scoring, prepare

    check_section(g)
    cfg = TrainConfig.for_graph(g)
    ready = prepare(g, cfg)
    if len(next(iter(ready.test.values()))):
        return ready.test, "test"
    return for_scoring(ready.train, ready.dynamic, cfg.seed), "train"


def cmd_sample(args) -> int:
    import torch

    from inference.config import MAX_SAMPLES, SEED_LIMIT
    from inference.plots import save_samples
    from inference.trainer import sample_observed

    if not 1 <= args.n <= MAX_SAMPLES:
        raise gm.GraphModelError(f"-n: expected a number of samples in [1, {MAX_SAMPLES:,}], found {args.n}")
    if not 0 <= args.seed < SEED_LIMIT:
        raise gm.GraphModelError(f"--seed: expected an integer in [0, 2**63), found {args.seed}")
    if not 0 < args.temperature < float("inf"):
        raise gm.GraphModelError(f"--temperature: expected a positive number, found {args.temperature}")
    g, runtime, _ = _trained(args)
    data = _test_data(g)[0] if g.data else None  # inputs to condition on, and data to compare with
    torch.manual_seed(args.seed)
    if args.strip:
        return _sample_strip(args, g, runtime, data)
    if args.complete or args.given_top_half:
        from inference.completion import run_completion

        return run_completion(args, g, runtime, data)
    values = sample_observed(g, runtime, args.n, data, temperature=args.temperature)
    if values and _sample_drawings(values, g, args.output):
        pass
    elif str(args.output).lower().endswith(".svg"):
        raise gm.GraphModelError("-o: SVG is written for stroke models (drawings); give OUT.png")
    elif not values or not save_samples(values, g, args.output, data):
        raise gm.GraphModelError("this graph has no image-shaped, 2-D or short vector variable to draw")
    print(f"wrote {args.output}")
    return 0


def _sample_drawings(values, g, output) -> bool:
    """A stroke model's samples as line drawings (PNG or SVG); False for other graphs."""
    from inference.drawings import sample_rows, save, stroke_pair

    if stroke_pair(g) is None:
        return False
    save(sample_rows(values, g), output)
    return True


def cmd_interpolate(args) -> int:
    from inference.interpolate import cmd_interpolate as run

    return run(args, _trained, _test_data)


def _jump_list(text: str) -> list[int]:
    try:
        jumps = [int(j) for j in text.split(",")]
    except ValueError:
        jumps = []
    if not jumps or min(jumps) < 1:
        raise gm.GraphModelError(f"--jumps: expected positive whole numbers separated by commas (2,2,2), found {text!r}")
    return jumps


def cmd_rollout(args) -> int:
    import torch

    from inference.config import SEED_LIMIT
    from inference.rollout import rollout_errors, save_rollouts

    jumps = _jump_list(args.jumps)
    if args.start < 0:
        raise gm.GraphModelError(f"--start: expected a step ≥ 0, found {args.start}")
    if not 1 <= args.n <= 1000:
        raise gm.GraphModelError(f"-n: expected a number of rollouts per sequence in [1, 1000], found {args.n}")
    if not 0 <= args.seed < SEED_LIMIT:
        raise gm.GraphModelError(f"--seed: expected an integer in [0, 2**63), found {args.seed}")
    g, runtime, _ = _trained(args)
    data, split = _test_data(g)
    torch.manual_seed(args.seed)
    errors = rollout_errors(g, runtime, data, args.start, jumps, n=args.n)
    print(f"rollouts from the belief at step {args.start} by jumps {jumps}, {args.n} per sequence of the {split} split; "
          "mean squared error per element:")
    for key, label in (("own", "from its own belief"), ("other", "from another sequence's belief"),
                       ("mean", "the mean frame")):
        print(f"  {label}: {errors[key]:.4f}")
    if args.output:
        drawn = save_rollouts(g, runtime, data, args.start, jumps, args.output)
        print(f"wrote {args.output} ({drawn} sequences)")
    return 0


def _sample_strip(args, g, runtime, data) -> int:
    """``sample --strip``: every canvas (an image variable of a sequence plate) over its steps."""
    from inference.strips import save_strip, strip_variables
    from inference.trainer import sample_observed

    names = strip_variables(g)
    if not names:
        raise gm.GraphModelError("--strip: this graph has no image-shaped variable in a sequence plate "
                                 "(a canvas) to draw over its steps")
    values = sample_observed(g, runtime, args.n, data, temperature=args.temperature, extra=tuple(names))
    save_strip(values, g, args.output, rows=min(args.n, 16))
    print(f"wrote {args.output} ({', '.join(names)} over {g.plates[g.variables[names[0]].plate].size} steps)")
    return 0


def _completion_flags(p) -> None:
    p.add_argument("--complete", metavar="INDICES",
                   help="complete these examples of the test split (0,5,9 or 0-7, or 0-499:50 for every 50th) from their "
                        "--observed pixels: "
                        "an autoregressive model by its exact conditionals (importance resampling where the mask "
                        "is not a prefix of its order), a VAE by iterated pseudo-Gibbs sampling")
    p.add_argument("--observed", default="top-half", metavar="MASK",
                   help="the pixels given: top-half (default), bottom-half, left-half, right-half, center, border, "
                        "top:K, bottom:K, left:K, right:K, or a .npy file of booleans")
    p.add_argument("--given-top-half", metavar="INDICES", help="--complete INDICES --observed top-half")
    p.add_argument("--completions", type=int, default=8, metavar="K", help="completions per example (default 8)")


def cmd_evaluate(args) -> int:
    import torch

    from inference.config import MAX_EVAL_K, TrainConfig
    from inference.evaluate import Estimate, report

    if args.k is not None and not 1 <= args.k <= MAX_EVAL_K:  # (the file's eval_k is checked with the file)
        raise gm.GraphModelError(f"--k: expected a number of importance samples in [1, {MAX_EVAL_K:,}], "
                                 f"found {args.k}")
    g, runtime, state = _trained(args)
    test, split = _test_data(g)
    if split != "test":
        print("no test split (test_fraction is 0): scoring the training data", file=sys.stderr)
    cfg = TrainConfig.for_graph(g)
    torch.manual_seed(cfg.seed)
    k = args.k or cfg.eval_k
    lines = report(runtime, g, test, k, extra=state.get("extra"), step=int(state.get("step", 0)), split=split)
    if any(isinstance(v, Estimate) for _, v, _ in lines):
        print(f"(± is one standard error of the mean over the {len(next(iter(test.values())))} {split} examples)",
              file=sys.stderr)
    for label, value, unit in lines:
        shown = f"{value:.4f}" if isinstance(value, float) and not isinstance(value, Estimate) else str(value)
        print(f"{label}: {shown} {unit}".rstrip())
    return 0


def _editor():
    """The desktop editor's entry points (``editor.app``), imported only when `edit` or `demo`
    runs, so that every other command starts without Qt. The command line sits above both
    the editor and ``inference``; the editor trains through ``inference.runs``, never here."""
    from editor import app

    return app


def cmd_edit(args) -> int:
    return _editor().edit(args.file, args.screenshot, args.train_steps, trust=args.trust)


def cmd_demo(args) -> int:
    return _editor().demo(args.steps, args.out)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="graphmodel", description="Deep generative models as graphical models.")
    ap.add_argument("--version", action="version", version=f"graphmodel {gm.__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, fn, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--debug", action="store_true", help="show a traceback on errors")
        p.add_argument("--trust", action="store_true",
                       help="allow the graph's references to user code to be imported, and load the "
                            "installed plugins (entry points in the group graphmodel.plugins)")
        p.add_argument("--plugin", action="append", default=[], metavar="PACKAGE.MODULE",
                       help="import this module first, registering its families and networks (repeatable; "
                            "needs --trust)")
        p.set_defaults(fn=fn)
        if name in ("check", "train", "sample", "evaluate"):
            p.add_argument("--data", metavar="SOURCE", help="the data instead of the file's dataset: a .npz or .npy "
                           "file, a folder of images, or a dataset by name (mnist5k, cifar10, …)")
            p.add_argument("--bind", action="append", default=[], metavar="VAR=FIELD",
                           help="bind a variable to a field of the data (repeatable; a number is a tuple's position)")
        return p

    p = add("check", cmd_check, "validate a graph file; print its factorization, order, memory and objective")
    p.add_argument("file")
    p.add_argument("--max-memory", metavar="SIZE", help=MAX_MEMORY_HELP)
    p = add("render", cmd_render, "draw a graph file as DOT (or SVG/PNG when Graphviz is installed)")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, help="OUT.dot, OUT.svg or OUT.png")
    p = add("train", cmd_train, "train a graph file headless, writing metrics, checkpoint and pictures")
    p.add_argument("file")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--max-memory", metavar="SIZE", help=MAX_MEMORY_HELP)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int)
    group.add_argument("--epochs", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: torch's choice; 1 is best on a busy machine "
                        "or for small models beside other work)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the objective (training.compile): slower first steps, faster after")
    p.add_argument("--compile-mode", choices=COMPILE_MODES, metavar="MODE",
                   help="compile in this torch.compile mode: " + ", ".join(COMPILE_MODES)
                   + " (reduce-overhead replays CUDA graphs on a GPU: small models step several times faster)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a run already in OUT (by default a new OUT-2, OUT-3, … is made beside it)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--logger", action="append", default=[], choices=LOGGERS,
                   help="also log to this tracker (repeatable): csv writes OUT/metrics.csv, tensorboard "
                        "event files in OUT (tensorboard --logdir OUT), mlflow the active MLflow run")
    p = add("examples", cmd_examples, "list the bundled example graphs, or copy one: examples copy NAME DIR")
    p.add_argument("action", nargs="?", choices=["copy"], help="copy NAME DIR: write NAME.py and NAME.json into DIR")
    p.add_argument("names", nargs="*", metavar="NAME DIR")
    p.add_argument("--overwrite", action="store_true", help="replace files already in DIR")
    p = add("schema", cmd_schema, "print the graph file's JSON Schema (for editors' completion and checks)")
    p.add_argument("-o", "--output", metavar="OUT.json", help="write it to a file instead")
    p = add("plot", cmd_plot, "redraw the loss curves of finished runs, overlaid for comparison")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (holding metrics.jsonl)")
    p.add_argument("-o", "--output", default="curves.png", help="OUT.png (default curves.png)")
    p.add_argument("--keys", nargs="+", metavar="KEY",
                   help="only these metrics (ASCII keys, as in metrics.jsonl; default: the loss and the terms)")
    p = add("sample", cmd_sample, "draw samples from a trained graph into a picture")
    p.add_argument("file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("-n", type=int, default=64)
    p.add_argument("-o", "--output", required=True, help="OUT.png (OUT.svg for a stroke model's drawings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0, metavar="TAU",
                   help="sample each factor from p^(1/TAU): a Normal's σ·√TAU, logits ÷ TAU (default 1)")
    p.add_argument("--strip", action="store_true",
                   help="draw every canvas (an image variable of a sequence plate) over its steps, one row a sample")
    _completion_flags(p)
    p = add("interpolate", cmd_interpolate,
            "draw the decoded path in latent space between two encoded examples of a stroke model")
    p.add_argument("file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("a", type=int, help="index of the first example in the test split (the training split without one)")
    p.add_argument("b", type=int, help="index of the last example")
    p.add_argument("--steps", type=int, default=10, help="codes on the path, ends included (default 10)")
    p.add_argument("-o", "--output", default="interpolation.png", help="OUT.png or OUT.svg")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=0.2, metavar="TAU",
                   help="the decoder's sampling temperature in (0, 1] (default 0.2)")
    p = add("rollout", cmd_rollout, "roll a jumpy model (TD-VAE) forward from its belief at a step and score "
                                    "the predicted frames against the sequences' own")
    p.add_argument("file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--start", type=int, default=4, help="the step whose belief the rollouts start from (default 4)")
    p.add_argument("--jumps", default="1,1,1,1", help="the jump lengths, e.g. 2,2,2 (default 1,1,1,1)")
    p.add_argument("-n", type=int, default=8, help="rollouts per sequence, averaged (default 8)")
    p.add_argument("-o", "--output", metavar="OUT.png", help="also draw the rollouts beside the truth")
    p.add_argument("--seed", type=int, default=0)
    p = add("evaluate", cmd_evaluate, "print the test bound and the importance-sampled log-likelihood "
                                      "(each ± its standard error over the test examples)")
    p.add_argument("file")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--k", type=int, default=None,
                   help="importance samples per example, for both the bound and the log-likelihood "
                        "(default: the file's training.eval_k)")
    p = add("edit", cmd_edit, "open the graph editor (or render it to a picture with --screenshot)")
    p.add_argument("file", nargs="?")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen to OUT.png and exit")
    p.add_argument("--train-steps", type=int, metavar="N", help="with --screenshot: train N steps first")
    p = add("demo", cmd_demo, "the VAE on the bundled digits, training live in the editor "
                              "(headless, writing plots, without a display)")
    p.add_argument("--steps", type=int, help="training steps (default: the file's)")
    p.add_argument("--out", default="demo-run", help="where a headless demo writes its plots")
    return ap


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help()
        return 2
    try:
        from graphmodel.plugins import load_plugins

        load_plugins(args.plugin, trusted=args.trust)
        return args.fn(args) or 0
    except gm.GraphModelError as e:
        if args.debug:
            traceback.print_exc()
        msg = str(e)
        first, _, rest = msg.partition("\n")
        print(f"graphmodel: error: {first}", file=sys.stderr)
        if rest:
            print(rest, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("graphmodel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (``graphmodel check F | head``): not an error of ours; point
        # stdout at nothing so that the interpreter's final flush does not complain either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as e:
        if args.debug:
            traceback.print_exc()
        print(f"graphmodel: error: {e}", file=sys.stderr)
        return 1
