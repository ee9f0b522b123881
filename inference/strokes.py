"""Vector drawings as pen strokes: the stroke-3 and stroke-5 formats, the built-in font-glyph
dataset, and a loader for QuickDraw's ``.npz`` files (Ha & Eck 2018, SketchRNN).

A drawing is a list of polylines (absolute points, one array ``(k, 2)`` per stroke). In
**stroke-3** it is a sequence of ``(Δx, Δy, lifted)`` rows: each row moves the pen by its
offset, and ``lifted`` says the pen leaves the paper after that point (the first point is
reached with the pen up). **Stroke-5** splits the flag into a one-hot pen state
``(p1, p2, p3)`` — drawing, lifted, finished — and ends with a ``(0, 0, 0, 0, 1)`` row; a
sequence of varying length is its rows up to that end token (the length counts it), padded
to the plate's size with more end rows (every row stays one-hot).

``glyphs`` draws letters and digits from the fonts matplotlib ships (DejaVu, STIX, Computer
Modern) with ``matplotlib.textpath.TextPath``: each outline's curves are flattened, simplified
(Ramer–Douglas–Peucker), put in one drawing order (:func:`canonical_order`), jittered by a
small random affine map, and the offsets divided by the dataset's own scale (their standard
deviation, as the paper normalizes). ``quickdraw`` reads a class file of the public QuickDraw
sketch set (stroke-3) without unpickling anything but arrays.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import zipfile

import numpy as np
import torch

from graphmodel.errors import DataError

#: the fonts of the built-in dataset: matplotlib's bundled files (name → file)
FACES = {
    "sans": "DejaVuSans.ttf", "sans-bold": "DejaVuSans-Bold.ttf", "sans-oblique": "DejaVuSans-Oblique.ttf",
    "serif": "DejaVuSerif.ttf", "serif-bold": "DejaVuSerif-Bold.ttf", "serif-italic": "DejaVuSerif-Italic.ttf",
    "mono": "DejaVuSansMono.ttf", "mono-bold": "DejaVuSansMono-Bold.ttf", "stix": "STIXGeneral.ttf",
    "stix-italic": "STIXGeneralItalic.ttf", "stix-bold": "STIXGeneralBol.ttf", "cm": "cmr10.ttf",
    "cm-sans": "cmss10.ttf", "cm-italic": "cmti10.ttf", "cm-mono": "cmtt10.ttf",
}
DEFAULT_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# --- formats -------------------------------------------------------------------------

def strokes_to_stroke3(strokes: list) -> np.ndarray:
    """Polylines → stroke-3 rows ``(n, 3)``: offsets from the previous point (the first from
    the origin) and 1 where the pen lifts after the point (each stroke's last)."""
    pts = np.concatenate([np.asarray(s, dtype=np.float64) for s in strokes])
    lifted = np.concatenate([np.eye(1, len(s), len(s) - 1)[0] for s in strokes])
    return np.column_stack((np.diff(pts, axis=0, prepend=np.zeros((1, 2))), lifted))


def stroke3_to_strokes(s3: np.ndarray) -> list:
    """Stroke-3 rows → polylines (absolute points; each stroke starts after a lift)."""
    s3 = np.asarray(s3, dtype=np.float64)
    pts = np.cumsum(s3[:, :2], axis=0)
    ends = np.flatnonzero(s3[:, 2] > 0.5) + 1
    return [p for p in np.split(pts, ends) if len(p)]


def stroke3_to_stroke5(s3: np.ndarray, steps: int) -> tuple[np.ndarray, int]:
    """Stroke-3 rows → stroke-5 ``(steps, 5)`` with the end token (repeated to pad), and its length
    (rows + 1). The caller keeps only drawings with ``rows < steps``."""
    n = len(s3)
    out = np.zeros((steps, 5), dtype=np.float32)
    out[:n, :2] = s3[:, :2]
    out[:n, 3] = s3[:, 2]
    out[:n, 2] = 1 - s3[:, 2]
    out[n:, 4] = 1  # the end token, and the padding after it (as the paper pads: every row one-hot)
    return out, n + 1


def stroke5_to_stroke3(s5: np.ndarray, length: int | None = None) -> np.ndarray:
    """Stroke-5 rows → stroke-3, up to the first end token (or ``length``; the end row
    itself dropped). A row's pen is its largest of the three states."""
    s5 = np.asarray(s5, dtype=np.float64)
    pen = s5[:, 2:5].argmax(1)
    n = len(s5) if length is None else int(length)
    end = np.flatnonzero(pen[:n] == 2)
    n = int(end[0]) if len(end) else n
    return np.column_stack((s5[:n, :2], (pen[:n] == 1).astype(np.float64)))


# --- glyph outlines ------------------------------------------------------------------

def rdp(points: np.ndarray, eps: float) -> np.ndarray:
    """Ramer–Douglas–Peucker: the fewest of ``points`` ``(k, 2)`` that keep every dropped one
    within ``eps`` of the simplified line (the ends always kept)."""
    keep = np.zeros(len(points), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        if b <= a + 1:
            continue
        seg = points[b] - points[a]
        rel = points[a + 1:b] - points[a]
        norm = np.hypot(*seg)
        dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm if norm > 0 else np.hypot(rel[:, 0], rel[:, 1])
        k = int(dist.argmax())
        if dist[k] > eps:
            keep[a + 1 + k] = True
            stack += [(a, a + 1 + k), (a + 1 + k, b)]
    return points[keep]


def _font_file(face: str) -> str:
    import matplotlib

    return os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf", FACES[face])


@functools.lru_cache(maxsize=4096)
def glyph_outline(char: str, face: str, eps: float = 0.004) -> tuple:
    """The outline of ``char`` in ``face`` as closed polylines, curves flattened (each Bézier
    piece at a point per ~1 % of the em) and simplified by RDP within ``eps`` (em units),
    centered on its bounding box."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    path = TextPath((0, 0), char, size=1.0, prop=FontProperties(fname=_font_file(face)))
    strokes, cur = [], []
    for curve, code in path.iter_bezier():
        if code == 1:  # MOVETO: a new contour
            if len(cur) > 1:
                strokes.append(np.concatenate(cur))
            cur = [curve.control_points[:1]]
            continue
        n = max(2, int(np.ceil(np.hypot(*np.ptp(curve.control_points, axis=0)) / 0.01)) + 1)
        cur.append(curve(np.linspace(0, 1, n))[1:])
    if len(cur) > 1:
        strokes.append(np.concatenate(cur))
    if not strokes:
        raise DataError(f"glyphs: face '{face}' draws nothing for {char!r}")
    lo = np.min([s.min(0) for s in strokes], axis=0)
    hi = np.max([s.max(0) for s in strokes], axis=0)
    return canonical_order(tuple(rdp(s - (lo + hi) / 2, eps) for s in strokes))


def canonical_order(contours: tuple) -> tuple:
    """Closed contours drawn as one hand would draw them in every face: each counterclockwise
    from its top-left point, the higher-reaching contours first.

    Fonts store a glyph's contours in any order, either direction and from any point (a 0
    starts at its top in DejaVu Sans and at its right in STIX, its outer contour clockwise
    there); left as stored, the same digit is a different pen path in each face, and a
    sequence model must learn each path apart. A contour that does not close is kept as it is.
    """
    out = []
    for c in contours:
        if len(c) < 4 or not np.allclose(c[0], c[-1]):
            out.append(c)
            continue
        ring = c[:-1]
        x, y = ring[:, 0], ring[:, 1]
        if np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) < 0:  # signed area: clockwise
            ring = ring[::-1]
        start = int(np.argmax(ring[:, 1] - 0.25 * ring[:, 0]))  # top, ties to the left
        ring = np.roll(ring, -start, axis=0)
        out.append(np.concatenate((ring, ring[:1])))
    out.sort(key=lambda c: -float(c[:, 1].max()))
    return tuple(out)


def _jitter(rng: np.random.Generator, amount: float) -> np.ndarray:
    """A random affine map ``(2, 2)``: rotation, anisotropic scale and shear of size ``amount``."""
    a = rng.uniform(-amount, amount, 4)
    rot = np.array([[np.cos(a[0]), -np.sin(a[0])], [np.sin(a[0]), np.cos(a[0])]])
    return rot @ np.array([[1 + a[1], a[3]], [0, 1 + a[2]]])


def _faces(faces: str) -> list[str]:
    names = list(FACES) if faces == "all" else [f.strip() for f in faces.split(",") if f.strip()]
    bad = [f for f in names if f not in FACES]
    if bad or not names:
        raise DataError(f"glyphs: faces: expected 'all' or names from {', '.join(FACES)}, found {faces!r}")
    return names


def glyphs(n: int = 8000, steps: int = 96, chars: str = DEFAULT_CHARS, faces: str = "all", jitter: float = 0.08,
           seed: int = 0) -> dict:
    """Letters and digits drawn as pen strokes from the fonts matplotlib ships (offline).

    Each example is a character of ``chars`` in a face of ``faces`` (cycled, so every pair
    comes about equally often) under a random affine jitter of size ``jitter`` (rotation in
    radians, scale and shear). Outlines longer than ``steps - 1`` points are simplified
    further until they fit. Fields: ``offset`` ``(n, steps, 2)`` (divided by the dataset's
    scale), ``pen`` ``(n, steps, 3)`` one-hot (drawing, lifted, finished), ``strokes``
    ``(n, steps, 5)`` (both), ``length`` ``(n,)`` (rows up to and with the end token),
    ``label`` ``(n,)`` (the index of the character in ``chars``), and ``scale`` ``(n,)``
    (the one number the offsets were divided by).
    """
    if not chars or len(set(chars)) != len(chars) or any(c.isspace() for c in chars):
        raise DataError(f"glyphs: chars: expected distinct visible characters, found {chars!r}")
    if steps < 8 or not 0 <= jitter <= 0.5:
        raise DataError(f"glyphs: expected steps ≥ 8 and jitter in [0, 0.5], found steps={steps}, jitter={jitter}")
    names = _faces(faces)
    rng = np.random.default_rng(seed)
    s3s, labels = [], []
    for i in range(n):
        c, face = i % len(chars), names[(i // len(chars)) % len(names)]
        outline = _fitting(chars[c], face, steps - 1)
        m = _jitter(rng, jitter)
        s3s.append(strokes_to_stroke3([s @ m.T for s in outline]))
        labels.append(c)
    return _stroke5_fields(s3s, steps, torch.tensor(labels))


def _fitting(char: str, face: str, rows: int) -> tuple:
    """The outline of ``char`` simplified (RDP tolerance doubled) until it has at most ``rows`` points."""
    eps = 0.004
    while True:
        outline = glyph_outline(char, face, eps)
        if sum(len(s) for s in outline) <= rows:
            return outline
        if eps > 0.2:
            raise DataError(f"glyphs: {char!r} in face '{face}' needs more than {rows + 1} steps; give more steps")
        eps *= 2


def _stroke5_fields(s3s: list, steps: int, labels: torch.Tensor, scale: float | None = None) -> dict:
    """The dataset's fields from stroke-3 drawings (each with fewer than ``steps`` rows)."""
    if scale is None:
        scale = float(np.concatenate([s[:, :2] for s in s3s]).std())
    rows = [stroke3_to_stroke5(np.column_stack((s[:, :2] / scale, s[:, 2])), steps) for s in s3s]
    s5 = torch.from_numpy(np.stack([r[0] for r in rows]))
    return {"offset": s5[..., :2].contiguous(), "pen": s5[..., 2:].contiguous(), "strokes": s5,
            "length": torch.tensor([r[1] for r in rows]), "label": labels,
            "scale": torch.full((len(rows),), scale, dtype=torch.float32)}


# --- QuickDraw -----------------------------------------------------------------------

_NUMPY_CLASSES = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a data file runs no code."""

    def find_class(self, module, name):
        if (module, name) not in _NUMPY_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not an array")
        return super().find_class(module, name)


def _read_npz_arrays(path: str) -> dict:
    """Each array of an ``.npz`` file, object arrays (QuickDraw's lists of drawings) included,
    read with :class:`_ArraysOnly`."""
    out = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            f = io.BytesIO(z.read(name))
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            _, _, dtype = read(f)
            if dtype.hasobject:
                out[name.removesuffix(".npy")] = _ArraysOnly(f).load()
            else:
                f.seek(0)
                out[name.removesuffix(".npy")] = np.lib.format.read_array(f, allow_pickle=False)
    return out


def quickdraw(path: str = "", split: str = "train", steps: int = 250, n: int = 10_000_000) -> dict:
    """One class file of QuickDraw's sketch set (``cat.npz``: stroke-3 drawings in ``train``,
    ``valid`` and ``test``), as the glyphs' fields (``label`` all 0).

    Drawings of ``steps`` rows or more are left out (the paper keeps those under 250); the
    offsets of both splits are divided by the training split's scale; ``n`` keeps the first
    n. ``split`` is ``"train"`` or ``"test"`` (the file's own split).
    """
    if not path or not os.path.isfile(os.path.expanduser(path)):
        raise DataError(f"quickdraw: data.options.path: no file at {path!r}; download a class file "
                        "(e.g. cat.npz) from the sketchrnn folder of the QuickDraw dataset "
                        "(https://github.com/googlecreativelab/quickdraw-dataset) and give its path, or "
                        "use the built-in 'glyphs' dataset offline")
    if split not in ("train", "test"):
        raise DataError(f"quickdraw: split must be 'train' or 'test', found {split!r}")
    try:
        arrays = _read_npz_arrays(os.path.expanduser(path))
    except (OSError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError) as e:
        raise DataError(f"quickdraw: {path}: not a QuickDraw .npz file ({e})") from None
    if "train" not in arrays or split not in arrays:
        raise DataError(f"quickdraw: {path}: expected arrays 'train' and '{split}', found {', '.join(arrays)}")
    train = [np.asarray(d, dtype=np.float64) for d in arrays["train"] if len(d) < steps]
    scale = float(np.concatenate([d[:, :2] for d in train]).std())
    keep = train if split == "train" else [np.asarray(d, dtype=np.float64) for d in arrays[split] if len(d) < steps]
    keep = keep[:n]
    if not keep:
        raise DataError(f"quickdraw: {path}: no drawing of the '{split}' split is shorter than {steps} rows")
    return _stroke5_fields(keep, steps, torch.zeros(len(keep), dtype=torch.long), scale)
