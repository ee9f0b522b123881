"""Train the multimodal examples (``examples/jmvae.json``, ``examples/mvae.json``) and measure
what each modality alone gives: the numbers in docs/RESULTS.md.

    PYTHONPATH=. python benchmarks/multimodal.py [--steps N] [--seed S]

For each model: a logistic-regression classifier, fitted to the training digits, reads
images generated from the label alone (z from the label's encoder, the image p(x|z)'s mean);
its accuracy says whether the label's code lands where the image decoder draws that digit.
The label inferred from the image alone (z from the image's encoder, w = argmax p(w|z)) is
scored against the test labels. The file's own objective is compared with the plain ELBO,
which leaves the unimodal encoders untrained.
"""

from __future__ import annotations

import argparse
import time

import torch

import graphmodel as gm
from inference.trainer import Trainer

#: per model: (the encoder of z from the label alone, the encoder of z from the image alone)
ENCODERS = {"jmvae": ("qw", "qx"), "mvae": ("q", "q")}
#: per model: the plain ELBO it is compared with (MVAE's with its KL annealed as in the file)
PLAIN = {"jmvae": "elbo(p, q)", "mvae": "elbo(p, q, beta=anneal(0.0, 1.0, 400))"}


def _missing_like(t: torch.Tensor) -> torch.Tensor:
    return torch.full_like(t, float("nan"))


def _code(runtime, model: str, given: dict) -> torch.Tensor:
    return runtime.model(model).trace(given, score=False).values["z"]


def _given(graph, model: str, present: dict) -> dict:
    """The inputs of ``model``: those in ``present``, the others missing (NaN)."""
    like = next(iter(present.values()))
    names = gm.model_inputs(graph, model)
    return {k: present[k] if k in present else _missing_like(like.new_zeros(len(like), *graph.variables[k].shape))
            for k in names}


def score(generate, infer, train: dict, test: dict, per_class: int = 100, seed: int = 0) -> tuple[float, float]:
    """(accuracy of a classifier fitted to ``train`` on ``generate(one-hot labels)``, the
    images' pixel probabilities; accuracy of ``infer(test images)``, label probabilities)."""
    from sklearn.linear_model import LogisticRegression

    torch.manual_seed(seed)
    clf = LogisticRegression(max_iter=2000).fit(train["x"].numpy(), train["w"].argmax(-1).numpy())
    classes = torch.arange(10).repeat_interleave(per_class)
    images = generate(torch.eye(10)[classes])
    generated = float((torch.as_tensor(clf.predict(images.numpy())) == classes).float().mean())
    inferred = float((infer(test["x"]).argmax(-1) == test["w"].argmax(-1)).float().mean())
    return generated, inferred


@torch.no_grad()
def cross_modal(graph, runtime, train: dict, test: dict, encoders: tuple[str, str], seed: int = 0) -> tuple[float, float]:
    """:func:`score` of a trained graph: z from ``encoders``' models (the label's, the image's), then p."""
    from_label, from_image = encoders

    def generate(w):
        z = _code(runtime, from_label, _given(graph, from_label, {"w": w}))
        return runtime.p.trace({"z": z}, score=False).dists["p(x|z)"].mean

    def infer(x):
        z = _code(runtime, from_image, _given(graph, from_image, {"x": x}))
        return runtime.p.trace({"z": z}, score=False).dists["p(w|z)"].probs

    was = runtime.training
    runtime.eval()
    try:
        return score(generate, infer, train, test, seed=seed)
    finally:
        runtime.train(was)


def run(name: str, formula: str | None = None, steps: int | None = None, seed: int = 0) -> tuple[float, float]:
    """Train ``examples/NAME.json`` (its objective replaced by ``formula`` if given) and measure it."""
    graph = gm.load(f"examples/{name}.json")
    if formula is not None:
        graph.objective = {"formula": formula}
    config = {"device": "cpu", "checkpoint_every": None, "seed": seed}
    if steps is not None:
        config.update(steps=steps, epochs=None)
    t = Trainer(graph, config=config)
    t.run()
    return cross_modal(graph, t.runtime, t.train_data, t.test_data, ENCODERS[name], seed=seed)


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the file's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["jmvae", "jmvae-elbo", "mvae"],
                        help="examples to train; NAME-elbo trains NAME with its plain ELBO instead")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for label in args.models:
        t0 = time.time()
        name, _, plain = label.partition("-")
        gen, inf = run(name, PLAIN[name] if plain else None, args.steps, args.seed)
        print(f"{label}: images from the label recognized {gen:.3f}, label from the image {inf:.3f} "
              f"(seed {args.seed}, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
