"""Stable ASCII keys for the trainer's metrics, beside their formulas.

The trainer names each term by the formula it shows (``KL[q(z|x)‖p(z)]``): right for a
person, wrong for a tracker (TensorBoard tags, MLflow keys and CSV headers want short ASCII
names that stay the same from run to run). :func:`metric_key` turns a formula name into such a
key — ``elbo``-style terms get the names a researcher would type (``recon_x``, ``kl_z``,
``entropy_y``), a player's or a group's prefix becomes a path (``discriminator/…``), anything
else a readable slug of the formula — and :func:`metric_keys` makes the keys of one run
unique. The same formula always gives the same key.
"""

from __future__ import annotations

import re
import unicodedata

#: Greek letters and symbols the formulas use, spelt out (before the ASCII slug drops the rest)
_SPELLED = {
    "σ": "sigma", "α": "alpha", "β": "beta", "λ": "lambda", "τ": "tau", "γ": "gamma", "μ": "mu",
    "Σ": "sum", "∏": "prod", "∇": "grad", "‖": "|", "−": "-", "·": "*", "ₜ": "t", "ₖ": "k", "ᵢ": "i",
    "²": "2",
}
_PREFIX = re.compile(r"^([A-Za-z][\w ]*?):\s+(.*)$")
_VAR = r"([A-Za-z]\w*?)(?:[ₜₖᵢ]|\[[^\]]*\])?"
_KL = re.compile(r"KL\[q\(" + _VAR + r"[|)]")
_RECON = re.compile(r"^E_q\([^\]]*?\)\[(?:Σₜ )?(log p\(.*)\]$")
_LOGP = re.compile(r"log p\(" + _VAR + r"[|)]")
_ENTROPY = re.compile(r"^H\[q\(" + _VAR + r"[|)]")
_LOGQ = re.compile(r"^log q\(" + _VAR + r"[|)]")
_IWAE = re.compile(r"log 1/(\d+) Σₖ")


def _slug(text: str) -> str:
    for k, v in _SPELLED.items():
        text = text.replace(k, v)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "term"


def _body_key(body: str) -> str:
    m = _IWAE.search(body)
    if m:
        return f"iwae_k{m.group(1)}"
    if "KL[" in body and (m := _KL.search(body)):
        return f"kl_{m.group(1)}"
    m = _RECON.match(body)
    if m:
        names = _LOGP.findall(m.group(1))
        if names:
            return "recon_" + "_".join(dict.fromkeys(names))
    for pattern, word in ((_ENTROPY, "entropy"), (_LOGQ, "logq")):
        m = pattern.match(body)
        if m:
            return f"{word}_{m.group(1)}"
    if body.startswith("log p(") and (m := _LOGP.match(body)) and body.endswith(")"):
        return f"logp_{m.group(1)}"
    return _slug(body)[:48].rstrip("_")


def metric_key(name: str) -> str:
    """The ASCII key of one formula-named term (``player: formula`` → ``player/key``)."""
    m = _PREFIX.match(name)
    if m:
        return f"{_slug(m.group(1))}/{_body_key(m.group(2))}"
    if name.startswith("test "):  # the test split's terms: ``test <term>``
        return "test/" + metric_key(name[5:])
    return _body_key(name)


def metric_keys(names) -> dict[str, str]:
    """``{formula name: key}`` for one run's terms, each key unique (``_2``, ``_3`` on a clash)."""
    out: dict[str, str] = {}
    used: set[str] = {"step", "loss", "lr", "epoch", "time"}
    for name in names:
        key = base = metric_key(name)
        n = 2
        while key in used:
            key, n = f"{base}_{n}", n + 1
        used.add(key)
        out[name] = key
    return out
