"""The offline scene dataset (inference/scenes.py): geometry of the poses, determinism,
the pictures themselves and the disk cache."""

import numpy as np
import pytest
import torch

from graphmodel.errors import DataError
from inference import data, scenes


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHMODEL_CACHE", str(tmp_path))
    return tmp_path / "scenes"


def test_poses_are_gqns_encoding_and_look_at_the_object():
    _, pose = scenes.random_poses(np.random.default_rng(0), 5, 4)
    pos = pose[..., :3]
    assert np.allclose(np.linalg.norm(pos, axis=-1), scenes.DISTANCE, atol=1e-4)
    assert np.allclose(pose[..., 3] ** 2 + pose[..., 4] ** 2, 1, atol=1e-5)
    assert np.allclose(pose[..., 5] ** 2 + pose[..., 6] ** 2, 1, atol=1e-5)
    # the viewing direction from (yaw, pitch) points from the camera at the centre
    look = np.stack([pose[..., 5] * pose[..., 4], pose[..., 6], pose[..., 5] * pose[..., 3]], -1)
    assert np.allclose(look, -pos / scenes.DISTANCE, atol=1e-4)


def test_objects_are_face_connected_unit_cubes():
    centres, colours = scenes.random_objects(np.random.default_rng(3), 50)
    for c in centres:
        cubes = c[c[:, 0] < 100]
        assert 3 <= len(cubes) <= scenes.MAX_CUBES
        d = np.abs(cubes[:, None] - cubes[None]).sum(-1)
        assert np.all(d[~np.eye(len(cubes), dtype=bool)] > 0.5)  # no two in one cell
        assert np.all((np.isclose(d, 1) | np.eye(len(cubes), dtype=bool)).sum(1) >= 2)  # each touches one
    assert colours.min() >= 0 and colours.max() <= 1


def test_the_object_is_in_the_middle_of_the_picture_and_the_room_around_it():
    centres, colours = scenes.random_objects(np.random.default_rng(1), 4)
    pos, _ = scenes.random_poses(np.random.default_rng(2), 4, 3)
    img = scenes.render(centres, colours, pos, 32)
    assert img.shape == (4, 3, 3, 32, 32) and img.min() >= 0 and img.max() <= 1
    empty = scenes.render(np.full_like(centres, 1e4), colours, pos, 32)
    changed = np.abs(img - empty).sum(2) > 1e-3  # (scene, view, H, W): the object and its shadow
    assert changed[..., 14:18, 14:18].mean() > 0.9  # the centre of every view shows the object
    assert changed[..., :4, :].mean() < 0.05  # the top rows show the walls
    # a cube's lit top is brighter than its faces toward the dark side
    assert len(np.unique(img.reshape(-1, 3, 32 * 32).transpose(0, 2, 1).round(3).reshape(-1, 3), axis=0)) > 20


def test_scenes_are_deterministic_cached_and_grouped(cache):
    a = data.load_dataset({"dataset": "scenes", "options": {"n_scenes": 6, "views": 9, "context": 3, "seed": 4}})
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))
    assert a["context"].shape == (12, 3, 3, 32, 32) and a["query"].shape == (12, 3, 32, 32)
    assert a["context_view"].shape == (12, 3, 7) and a["query_view"].shape == (12, 7)
    assert a["scene"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    fresh, pose = scenes.render_views(6, 9, 32, 4)
    assert torch.equal(a["query"][0], torch.from_numpy(fresh[0, 3]).float() / 255)
    files[0].write_bytes(b"damaged")  # a damaged cache is rendered again, not trusted
    b = scenes.scenes(6, 9, 3, 32, 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = scenes.scenes(6, 9, 3, 32, 5)
    assert not torch.equal(a["query"], c["query"])


def test_64_pixels_and_refusals(cache):
    big = scenes.scenes(n_scenes=1, views=2, context=1, size=64)
    assert big["query"].shape == (1, 3, 64, 64)
    with pytest.raises(DataError, match="size: scenes are rendered at 32 or 64 pixels, found 48"):
        scenes.scenes(1, 2, 1, 48)
    with pytest.raises(DataError, match="views: a scene needs at least context \\+ 1 = 4 views, found 3"):
        scenes.scenes(1, 3, 3)
    with pytest.raises(DataError, match="data.options.nscenes: scenes has no option"):
        data.load_dataset({"dataset": "scenes", "options": {"nscenes": 3}})

