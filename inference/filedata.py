"""Datasets read from the user's files and torchvision, registered beside the built-in ones.

The data section names them like any dataset (:mod:`inference.data`), and the command line's
``--data`` sets them from a path::

    "data": {"dataset": "npz", "options": {"path": "faces.npz"}, "bind": {"x": "images"}}
    "data": {"dataset": "image_folder", "options": {"path": "faces/", "size": 32, "channels": 3}}
    "data": {"dataset": "cifar10", "options": {"root": "~/data"}, "bind": {"x": "image2d"}}

- ``npz``: every array of a ``.npz`` file is a field, named as in the file; ``npy``: the one
  array of a ``.npy`` file, a field named after the file (``images.npy`` → ``images``). Read
  with ``allow_pickle=False``: a file holding Python objects is refused, never unpickled.
- ``image_folder``: the images of a folder (PNG, JPEG, BMP, GIF, WebP), greyscale or RGB,
  resized to ``size`` × ``size`` (Pillow), grey levels in [0, 1]. A folder of sub-folders is
  labelled by sub-folder (sorted names: class 0, 1, …). Fields as MNIST's: ``image``
  (N, C·size²), ``image2d`` (N, C, size, size), and ``label``, ``label_onehot`` when labelled.
- ``fashion_mnist``, ``cifar10`` (and ``mnist``, in :mod:`inference.data`): torchvision's
  datasets, with their own training and test splits; grey levels in [0, 1].

Relative paths are read from the working directory (as ``--out`` is written there). Each
loader's ``check`` looks at its options without reading the data (``graphmodel check``).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from graphmodel.errors import DataError

from .datacheck import MAX_DATASET_VALUES

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _path(path: str, suffix: str | None, name: str) -> Path:
    """The file or folder ``data.options.path`` names, or a one-line DataError."""
    if not path:
        raise DataError(f"data.options.path: {name} needs the path of its {suffix or 'folder'}")
    p = Path(os.path.expanduser(path))
    if suffix and p.suffix.lower() != suffix:
        raise DataError(f"data.options.path: {name} reads a {suffix} file, found {path!r}")
    if not p.exists():
        raise DataError(f"data.options.path: no such {'file' if suffix else 'folder'}: {path!r} "
                        f"(relative paths are read from the working directory, {os.getcwd()})")
    if suffix is None and not p.is_dir():
        raise DataError(f"data.options.path: {name} reads a folder of images, found the file {path!r}")
    return p


def _tensor(name: str, array) -> torch.Tensor:
    """A numpy array as a tensor, or a DataError naming the field."""
    import numpy as np

    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    try:
        return torch.from_numpy(np.ascontiguousarray(array))
    except TypeError:
        raise DataError(f"field '{name}': numpy dtype {array.dtype} has no tensor equivalent; expected numbers") from None


def _load_npy(path: Path, **options):
    import numpy as np

    try:
        return np.load(path, allow_pickle=False, **options)
    except ValueError as e:  # object arrays need pickle, which a file never gets
        raise DataError(f"data.options.path: {path} cannot be read without unpickling Python objects ({e}); "
                        "save plain numeric arrays") from None
    except (OSError, EOFError) as e:
        raise DataError(f"data.options.path: {path} is not a numpy file ({e})") from None


def npz(path: str = "") -> dict:
    """Every array of a ``.npz`` file, a field each, named as in the file."""
    p = _path(path, ".npz", "npz")
    with _load_npy(p) as archive:
        return {k: _tensor(k, archive[k]) for k in archive.files}


def npy(path: str = "") -> dict:
    """The array of a ``.npy`` file, one field named after the file (``images.npy`` → ``images``)."""
    p = _path(path, ".npy", "npy")
    return {p.stem: _tensor(p.stem, _load_npy(p))}


npz.check = lambda options: _path(options.get("path", ""), ".npz", "npz")
npy.check = lambda options: _path(options.get("path", ""), ".npy", "npy")


# --- images ------------------------------------------------------------------------------

def _images(root: Path) -> tuple[list, list]:
    """``(files, class names)``: a flat folder's images (no classes), or its sub-folders'."""
    subs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not subs:
        return sorted(f for f in root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES), []
    files = [(f, k) for k, d in enumerate(subs) for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    return files, [d.name for d in subs]


def _check_image_options(options: dict) -> None:
    _path(options.get("path", ""), None, "image_folder")
    if options.get("channels", 1) not in (1, 3):
        raise DataError(f"data.options.channels: expected 1 (greyscale) or 3 (RGB), found {options['channels']!r}")
    if not 1 <= options.get("size", 28) <= 1024:
        raise DataError(f"data.options.size: expected an integer in [1, 1024], found {options['size']!r}")


def image_folder(path: str = "", size: int = 28, channels: int = 1) -> dict:
    """The images of a folder, resized to ``size`` × ``size``, greyscale (1) or RGB (3)."""
    _check_image_options({"path": path, "size": size, "channels": channels})
    try:
        from PIL import Image
    except ImportError:
        raise DataError("the image_folder dataset needs Pillow: pip install pillow") from None
    found, classes = _images(Path(os.path.expanduser(path)))
    if not found:
        raise DataError(f"data.options.path: no images ({', '.join(IMAGE_SUFFIXES)}) in {path!r}")
    if len(found) * channels * size * size > MAX_DATASET_VALUES:
        raise DataError(f"data.options: {len(found)} images of {channels}×{size}×{size} would hold more than "
                        f"{MAX_DATASET_VALUES:,} values; choose a smaller size or stream them with a Dataset")
    files = [f for f, _ in found] if classes else found
    out = torch.empty(len(files), channels, size, size)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
                pixels = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
        except OSError as e:
            raise DataError(f"data.options.path: cannot read image {f} ({e})") from None
        out[i] = pixels.view(size, size, channels).permute(2, 0, 1).float() / 255.0
    fields = {"image": out.reshape(len(files), -1), "image2d": out}
    if classes:
        y = torch.tensor([k for _, k in found], dtype=torch.long)
        fields.update(label=y, label_onehot=torch.nn.functional.one_hot(y, len(classes)).float())
    return fields


image_folder.check = _check_image_options


# --- torchvision ---------------------------------------------------------------------------

def _torchvision(cls_name: str, title: str, root: str, download: bool, split: str) -> dict:
    """torchvision's ``cls_name`` as fields: ``image`` flat, ``image2d`` (N, C, H, W) in [0, 1],
    ``label``, ``label_onehot``; one clear line when torchvision or the files are missing."""
    if split not in ("train", "test"):
        raise DataError(f"{title}: split must be 'train' or 'test', found {split!r}")
    try:
        import torchvision.datasets as tv
    except ImportError:
        raise DataError(f"the {title} dataset needs torchvision: pip install torchvision") from None
    where = os.path.expanduser(root)
    try:
        ds = getattr(tv, cls_name)(where, train=split == "train", download=download)
    except (RuntimeError, OSError) as e:
        how = "and could not be downloaded" if download else "(download is false)"
        raise DataError(f"{title} is not at {root} {how}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; "
                        "set data.options.root to where it is") from None
    x = torch.as_tensor(ds.data)
    x = (x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)).float().div(255.0)  # (N, C, H, W)
    y = torch.as_tensor(ds.targets, dtype=torch.long)
    return {"image": x.reshape(len(x), -1), "image2d": x, "label": y,
            "label_onehot": torch.nn.functional.one_hot(y, 10).float()}


def fashion_mnist(root: str = "~/.cache/graphmodel/fashion_mnist", download: bool = True,
                  split: str = "train") -> dict:
    """Fashion-MNIST through torchvision: 60,000 / 10,000 grey 28×28 images of 10 kinds of clothing."""
    return _torchvision("FashionMNIST", "fashion_mnist", root, download, split)


def cifar10(root: str = "~/.cache/graphmodel/cifar10", download: bool = True, split: str = "train") -> dict:
    """CIFAR-10 through torchvision: 50,000 / 10,000 RGB 32×32 images of 10 classes."""
    return _torchvision("CIFAR10", "cifar10", root, download, split)


#: the loaders this module registers (:data:`inference.data.DATASETS`), and their fields
#: where they do not depend on the file
LOADERS = {"npz": npz, "npy": npy, "image_folder": image_folder, "fashion_mnist": fashion_mnist, "cifar10": cifar10}
FIELDS = dict.fromkeys(("fashion_mnist", "cifar10"), ("image", "image2d", "label", "label_onehot"))
