"""Whole-model templates for the palette: the project's example graphs.

A template is a copy of a graph file from ``examples/`` shipped inside the package
(``editor/template_files/``, package data), so an installed editor has them without the
source tree; a test keeps each copy byte-for-byte equal to its example, which the example
tests keep equal to ``examples/NAME.py`` — one definition of each model. Applied to an
empty canvas a template becomes the document (with its data and training settings);
dropped onto a drawing it is merged in as a fragment with fresh names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import graphmodel as gm

#: The packaged template files: ``NAME.json``, copies of ``examples/NAME.json``.
TEMPLATE_DIR = Path(__file__).resolve().parent / "template_files"


@dataclass(frozen=True)
class Template:
    key: str
    title: str
    description: str

    @property
    def path(self) -> Path:
        return TEMPLATE_DIR / f"{self.key}.json"


TEMPLATES = (
    Template("vae", "VAE", "variational autoencoder: p(x|z)p(z), q(z|x) (Kingma & Welling 2014)"),
    Template("cvae", "CVAE", "conditional VAE with a label input y"),
    Template("m2", "M2", "semi-supervised VAE with a discrete latent label (Kingma et al. 2014)"),
    Template("gan", "GAN", "implicit generator x = G(z): an adversarial game"),
    Template("avb", "AVB", "adversarial variational Bayes: implicit posterior z = f(x, ε)"),
    Template("vrnn", "VRNN", "variational RNN over a sequence plate (Chung et al. 2015)"),
    Template("hvae", "Hierarchical VAE", "two latent layers z2 → z1 → x"),
    Template("gqn_toy", "GQN (toy)", "iid plate of context views with a sum reduction"),
    Template("gqn", "GQN", "scenes from new viewpoints: a tower over the context views, a conditional ConvDRAW "
             "over L steps (Eslami et al. 2018)"),
    Template("iwae", "IWAE", "the VAE trained on the k = 5 importance-weighted bound (Burda et al. 2016)"),
    Template("vaegan", "VAE-GAN", "a VAE with a discriminator on its reconstructions (Larsen et al. 2016)"),
    Template("dmm", "DMM", "deep Markov model: latent transition p(zₜ|zₜ₋₁), filter q(zₜ|zₜ₋₁,xₜ) "
             "(Krishnan et al. 2017)"),
    Template("cgan", "Conditional GAN", "x = G(z, y) with a label input; D(x, y) judges point and label "
             "(Mirza & Osindero 2014)"),
    Template("gmm_prior", "VAE, mixture prior", "a VAE whose prior p(z) is a learned mixture of ten Gaussians"),
    Template("autoencoder", "Autoencoder", "deterministic encoder z = f(x) in q, decoder p(x|z): the objective "
             "is the reconstruction"),
    Template("made", "MADE", "an autoregressive density: a masked MLP reads the pixels before each one "
             "(Germain et al. 2015)"),
    Template("made_mnist", "MADE (28×28)", "MADE on dynamically binarized 28×28 digits"),
    Template("realnvp", "RealNVP", "a density as a flow: N(0, I) through affine couplings (Dinh et al. 2017)"),
    Template("realnvp_digits", "RealNVP (digits)", "a coupling flow on dequantized grey digits"),
    Template("maf", "MAF", "a masked autoregressive flow on a ring of Gaussians (Papamakarios et al. 2017)"),
    Template("iaf_vae", "VAE, IAF posterior", "a VAE whose posterior is a Normal through IAF steps "
             "(Kingma et al. 2016)"),
    Template("dmm_smooth", "DMM (smoothing)", "a deep Markov model whose posterior reads the future through "
             "a backward state"),
    Template("wgan", "WGAN (clipping)", "a Wasserstein GAN whose critic's weights are clipped, written as one "
             "line of formula (Arjovsky et al. 2017)"),
)


def _discovered() -> tuple[Template, ...]:
    """Template files not in the list above (a new example copied in is a template at once)."""
    known = {t.key for t in TEMPLATES}
    paths = sorted(TEMPLATE_DIR.glob("*.json"))
    return tuple(Template(p.stem, p.stem.upper() if len(p.stem) <= 5 else p.stem, f"examples/{p.name}")
                 for p in paths if p.stem not in known)


TEMPLATES = TEMPLATES + _discovered()


def template(key: str) -> Template:
    for t in TEMPLATES:
        if t.key == key:
            return t
    raise gm.GraphModelError(f"no template '{key}'; templates: {', '.join(t.key for t in TEMPLATES)}")


def load_template(key: str) -> gm.Graph:
    """The template's graph (raises GraphModelError when its file is missing)."""
    t = template(key)
    if not t.path.exists():
        raise gm.GraphModelError(f"template '{key}': {t.path} is missing (the package was installed "
                                 "without its data files)")
    return gm.load(t.path, validate=False)
