"""Shepard–Metzler-like scenes for scene models (GQN): rendered here, offline, cached on disk.

A scene is an object of 3 to 7 coloured unit cubes joined face to face (a random walk on
the integer grid, centred on the origin) standing in a room (a floor and four walls of
distinct colours, a dark ceiling). Our own numpy ray caster renders it from viewpoints
around the object — yaw anywhere on the circle, pitch from slightly below to well above
the object, always looking at its centre — with Lambert shading from one distant light
plus ambient light, and the object's shadow on the floor. Every pixel's ray is tested
against every cube at once (the slab test), vectorized over pixels, views and scenes.

Each view comes with its camera pose as GQN encodes it (Eslami et al. 2018): the position
``(x, y, z)`` (y up) and the cosine and sine of the yaw and pitch of the viewing direction,
7 numbers. Scenes are deterministic from the seed. The rendered views are cached under
``$GRAPHMODEL_CACHE`` (else ``~/.cache/graphmodel``) in ``scenes/``, one file per
(scenes, views, size, seed), written atomically; a damaged cache file is rendered again.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import torch

from graphmodel.atomic import atomic_open
from graphmodel.errors import DataError

from .datacheck import MAX_DATASET_VALUES

#: bumped whenever the renderer's pictures change, so that old cache files are not read
RENDER_VERSION = 1
ROOM = 6.0  # the walls' distance from the object's centre (x and z)
FLOOR, CEILING = -2.5, 6.0
DISTANCE = 4.5  # the camera's distance from the object's centre
FOV = math.radians(55.0)  # the field of view, corner to corner of a side
PITCH = (math.radians(-5.0), math.radians(50.0))  # the camera above (+) or below the centre
LIGHT = np.array([0.45, 1.0, 0.3]) / np.linalg.norm([0.45, 1.0, 0.3])
AMBIENT = 0.45
#: the room's faces' colours: +x wall, −x wall, ceiling, floor, +z wall, −z wall (axis, sign)
FACES = np.array([[0.80, 0.35, 0.30], [0.30, 0.55, 0.80], [0.12, 0.12, 0.15],
                  [0.65, 0.62, 0.55], [0.40, 0.70, 0.40], [0.85, 0.75, 0.35]], dtype=np.float32)
CHUNK = 16  # scenes rendered at once (memory: CHUNK × views × pixels × cubes × 3 floats)
MAX_CUBES = 7


def cache_dir() -> Path:
    """Where rendered scenes are kept: ``$GRAPHMODEL_CACHE/scenes`` or ``~/.cache/graphmodel/scenes``."""
    root = os.environ.get("GRAPHMODEL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "graphmodel")
    return Path(root) / "scenes"


def random_objects(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` objects: cube centres ``(n, MAX_CUBES, 3)`` (unused cubes far outside the room)
    and their colours ``(n, MAX_CUBES, 3)`` in [0, 1]."""
    steps = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])
    centres = np.full((n, MAX_CUBES, 3), 1e4, dtype=np.float32)
    colours = np.zeros((n, MAX_CUBES, 3), dtype=np.float32)
    for i in range(n):
        k = int(rng.integers(3, MAX_CUBES + 1))
        cells = [(0, 0, 0)]
        while len(cells) < k:  # grow from a random cube in a random direction, onto a free cell
            base = cells[int(rng.integers(len(cells)))]
            new = tuple(int(a + b) for a, b in zip(base, steps[int(rng.integers(6))]))
            if new not in cells:
                cells.append(new)
        pts = np.array(cells, dtype=np.float32)
        centres[i, :k] = pts - pts.mean(0)
        colours[i, :k] = _hsv(rng.random(k), rng.uniform(0.55, 1.0, k), rng.uniform(0.75, 1.0, k))
    return centres, colours


def _hsv(h, s, v) -> np.ndarray:
    """HSV to RGB, elementwise over arrays of equal length; returns ``(len, 3)``."""
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6) % 6
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1)


def random_poses(rng: np.random.Generator, n: int, views: int) -> tuple[np.ndarray, np.ndarray]:
    """Cameras around the centre: positions ``(n, views, 3)`` and GQN's poses ``(n, views, 7)``."""
    yaw = rng.uniform(0, 2 * math.pi, (n, views))
    pitch = rng.uniform(*PITCH, (n, views))
    pos = DISTANCE * np.stack([np.cos(pitch) * np.sin(yaw), np.sin(pitch), np.cos(pitch) * np.cos(yaw)], -1)
    look_yaw, look_pitch = yaw + math.pi, -pitch  # the direction the camera looks: at the centre
    pose = np.concatenate([pos, np.stack([np.cos(look_yaw), np.sin(look_yaw), np.cos(look_pitch),
                                          np.sin(look_pitch)], -1)], -1)
    return pos.astype(np.float32), pose.astype(np.float32)


def camera_rays(pos: np.ndarray, size: int) -> np.ndarray:
    """Unit ray directions ``(..., size * size, 3)`` of cameras at ``pos (..., 3)`` looking at the origin."""
    fwd = -pos / np.linalg.norm(pos, axis=-1, keepdims=True)
    right = np.cross(fwd, np.array([0.0, 1.0, 0.0], dtype=np.float32))
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, fwd)
    half = math.tan(FOV / 2)
    s = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1) * half
    u, v = np.meshgrid(s, -s)  # rows top to bottom, columns left to right
    d = (fwd[..., None, :] + u.reshape(-1, 1) * right[..., None, :] + v.reshape(-1, 1) * up[..., None, :])
    return (d / np.linalg.norm(d, axis=-1, keepdims=True)).astype(np.float32)


def _cube_hits(o, d, centres):
    """The nearest cube each ray hits: distance ``(..., P)`` (inf: none), its index and the
    hit face's axis. ``o (..., 1 or P, 3)``, ``d (..., P, 3)``, ``centres (..., C, 3)``.

    The slab test, one axis at a time on ``(..., P, C)`` arrays (numpy's reductions over a
    last axis of 3 are several times slower than these elementwise maxima)."""
    near, far = [], []
    with np.errstate(divide="ignore", invalid="ignore"):
        for a in range(3):
            inv = 1.0 / d[..., a, None]  # (..., P, 1)
            lo = (centres[..., None, :, a] - 0.5 - o[..., a, None]) * inv
            hi = lo + inv
            near.append(np.minimum(lo, hi))
            far.append(np.maximum(lo, hi))
    t_in = np.maximum(np.maximum(near[0], near[1]), near[2])
    t_out = np.minimum(np.minimum(far[0], far[1]), far[2])
    t = np.where((t_out >= t_in) & (t_in > 1e-4), t_in, np.inf)
    k = t.argmin(-1)[..., None]
    t_hit = np.take_along_axis(t, k, -1)[..., 0]
    n0, n1 = (np.take_along_axis(near[a], k, -1)[..., 0] for a in (0, 1))
    axis = np.where(n0 == t_hit, 0, np.where(n1 == t_hit, 1, 2))
    return t_hit, k[..., 0], axis


def _room_hits(o, d):
    """Where each ray leaves the room: distance ``(..., P)`` and the face's index into ``FACES``."""
    bounds_hi = np.array([ROOM, CEILING, ROOM], dtype=np.float32)
    bounds_lo = np.array([-ROOM, FLOOR, -ROOM], dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d > 0, bounds_hi - o, bounds_lo - o) / d
    t = np.where(np.isfinite(t) & (t > 0), t, np.inf)
    axis = t.argmin(-1)
    sign = np.take_along_axis(d, axis[..., None], -1)[..., 0] < 0
    return t.min(-1), 2 * axis + sign


def render(centres, colours, pos, size: int) -> np.ndarray:
    """Render scenes: ``centres``/``colours`` ``(n, C, 3)``, camera positions ``(n, V, 3)``;
    returns RGB in [0, 1], ``(n, V, 3, size, size)`` float32."""
    d = camera_rays(pos, size)  # (n, V, P, 3)
    o = pos[:, :, None, :]  # (n, V, 1, 3)
    cubes = centres[:, None]  # (n, 1, C, 3)
    t_cube, k, axis = _cube_hits(o, d, cubes)
    t_room, face = _room_hits(o, d)
    on_cube = t_cube < t_room
    sign = -np.sign(np.take_along_axis(d, axis[..., None], -1)[..., 0])
    normal = np.zeros_like(d)
    np.put_along_axis(normal, axis[..., None], sign[..., None], -1)
    room_axis = face // 2
    room_normal = np.zeros_like(d)
    np.put_along_axis(room_normal, room_axis[..., None], np.where(face % 2 == 1, 1.0, -1.0)[..., None], -1)
    normal = np.where(on_cube[..., None], normal, room_normal)
    n_cubes = colours.shape[1]
    cube_rgb = np.take_along_axis(np.broadcast_to(colours[:, None, None], (*k.shape, n_cubes, 3)),
                                  k[..., None, None], -2)[..., 0, :]
    albedo = np.where(on_cube[..., None], cube_rgb, FACES[face])
    t = np.where(on_cube, t_cube, t_room)
    hit = o + t[..., None] * d
    lambert = np.clip(normal @ LIGHT.astype(np.float32), 0, None)
    lit = _unshadowed(hit, normal, cubes)
    rgb = albedo * (AMBIENT + (1 - AMBIENT) * lambert * lit)[..., None]
    n, v = pos.shape[:2]
    return np.clip(rgb, 0, 1).reshape(n, v, size, size, 3).transpose(0, 1, 4, 2, 3).astype(np.float32)


def _unshadowed(hit, normal, cubes) -> np.ndarray:
    """1 where the light reaches the point ``hit (..., P, 3)``, 0 where a cube stands between."""
    o = hit + 1e-3 * normal  # off the surface, so that a face does not shadow itself
    t, _, _ = _cube_hits(o, np.broadcast_to(LIGHT.astype(np.float32), o.shape), cubes)
    return np.isinf(t).astype(np.float32)


def render_views(n_scenes: int, views: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n_scenes`` scenes from ``views`` cameras each: images ``(n, views, 3, size, size)``
    as uint8 and poses ``(n, views, 7)`` float32, the same for the same arguments."""
    rng = np.random.default_rng(seed)
    centres, colours = random_objects(rng, n_scenes)
    pos, pose = random_poses(rng, n_scenes, views)
    images = np.empty((n_scenes, views, 3, size, size), dtype=np.uint8)
    for a in range(0, n_scenes, CHUNK):
        b = min(a + CHUNK, n_scenes)
        images[a:b] = np.rint(render(centres[a:b], colours[a:b], pos[a:b], size) * 255)
    return images, pose


def cached_views(n_scenes: int, views: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render_views`, read from the cache when it was rendered before (else rendered
    and written there atomically)."""
    path = cache_dir() / f"v{RENDER_VERSION}-n{n_scenes}-views{views}-size{size}-seed{seed}.npz"
    try:
        with np.load(path) as f:
            images, pose = f["images"], f["poses"]
        if images.shape == (n_scenes, views, 3, size, size) and pose.shape == (n_scenes, views, 7):
            return images, pose
    except (OSError, ValueError, KeyError, EOFError):
        pass  # absent or damaged: render it again
    images, pose = render_views(n_scenes, views, size, seed)
    buf = io.BytesIO()
    np.savez(buf, images=images, poses=pose)
    try:
        with atomic_open(path, "wb") as fh:
            fh.write(buf.getvalue())
    except OSError:
        pass  # a read-only cache only costs the rendering next time
    return images, pose


def scenes(n_scenes: int = 2000, views: int = 10, context: int = 3, size: int = 32, seed: int = 0) -> dict:
    """Shepard–Metzler-like scenes (see the module), grouped into GQN's examples.

    Each scene is rendered from ``views`` cameras; its views are cut into groups of
    ``context + 1`` (``views // (context + 1)`` examples per scene): the first ``context`` of a
    group are the context, the last the query. Fields: ``context`` (N, context, 3, size, size)
    seen from ``context_view`` (N, context, 7), the ``query`` (N, 3, size, size) from
    ``query_view`` (N, 7), and ``scene`` (N,), the index of the scene. Pixels in [0, 1].

    Raises:
        DataError: ``size`` not 32 or 64, fewer views than a group, or too many values.
    """
    if size not in (32, 64):
        raise DataError(f"data.options.size: scenes are rendered at 32 or 64 pixels, found {size}")
    if views < context + 1:
        raise DataError(f"data.options.views: a scene needs at least context + 1 = {context + 1} views, "
                        f"found {views}")
    if n_scenes * views * 3 * size * size > MAX_DATASET_VALUES:
        raise DataError(f"data.options: scenes would hold {n_scenes * views * 3 * size * size:,} values "
                        f"(n_scenes × views × 3 × size²), more than {MAX_DATASET_VALUES:,}; make it smaller")
    images, pose = cached_views(n_scenes, views, size, seed)
    groups = views // (context + 1)
    used = groups * (context + 1)
    x = torch.from_numpy(images[:, :used]).reshape(n_scenes * groups, context + 1, 3, size, size)
    v = torch.from_numpy(pose[:, :used]).reshape(n_scenes * groups, context + 1, 7)
    x = x.to(torch.get_default_dtype()).div_(255.0)
    v = v.to(torch.get_default_dtype())
    return {"context": x[:, :context], "context_view": v[:, :context], "query": x[:, context],
            "query_view": v[:, context], "scene": torch.arange(n_scenes).repeat_interleave(groups)}
