"""A tampered dataset does not load silently (issue 20, defect 4): a missing chunk is an
error, and `fetch` notices a changed cached file (stamp invalidated by size or mtime,
full check on demand)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from peaknet_bench.data.manifest import MANIFEST_NAME, read_manifest
from peaknet_bench.data.store import STORE_DIRNAME, Store
from synthetic_records import build_tiny
from peaknet_bench.data.torch_dataset import PeakNetDataset
from peaknet_bench.errors import InputError


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny" / "0.1").path


def _copy(built, tmp_path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(built, dst)
    return dst


def _frame_with(store: Store, name: str) -> tuple[str, int]:
    """A frame whose `name` chunk file exists (a non-fill frame)."""
    for det in store.detectors:
        for i in range(store.n_frames(det)):
            if (store.path / det / name / "c" / str(i) / "0" / "0").is_file():
                return det, i
    raise AssertionError(f"no stored {name} chunk")


# Without a manifest an absent label chunk cannot be told from an empty label; image and
# mask chunks still can, from the frame statistics the store records.
@pytest.mark.parametrize(("name", "with_manifest"), [("label", True), ("image", True), ("mask", True),
                                                     ("image", False), ("mask", False)])
def test_a_deleted_chunk_is_an_error_not_zeros(built, tmp_path, name, with_manifest):
    root = _copy(built, tmp_path)
    store = Store(root)
    det, i = _frame_with(store, name)
    if name == "label":
        assert store.label(det, i).any()
    (store.path / det / name / "c" / str(i) / "0" / "0").unlink()
    if not with_manifest:
        (root / MANIFEST_NAME).unlink()
    store = Store(root)
    with pytest.raises(InputError, match=rf"{det}/{name} frame {i}: chunk file missing"):
        getattr(store, name)(det, i)
    ds = PeakNetDataset(root, split=None)
    k = ds.items.index((det, i))
    with pytest.raises(InputError, match="chunk file missing"):
        ds[k]


def test_chunks_zarr_never_wrote_still_read_as_fill(built):
    """Frames without labels have no label chunk (Zarr skips fill-only chunks): not an error."""
    store = Store(built)
    listed = {f["path"] for f in read_manifest(built)["files"]}
    empty = [(det, i) for det in store.detectors for i in range(store.n_frames(det))
             if f"{STORE_DIRNAME}/{det}/label/c/{i}/0/0" not in listed]
    assert empty, "the tiny dataset should have frames without labels"
    for det, i in empty:
        assert not store.label(det, i).any()


def _publish(built, tmp_path) -> tuple[Path, Path]:
    """A datasets/ folder whose manifest points at the built copy by file:// URL, and a cache."""
    vdir = tmp_path / "datasets" / "tiny" / "0.1"
    vdir.mkdir(parents=True)
    m = read_manifest(built)
    m["base_urls"] = [built.resolve().as_uri()]
    (vdir / MANIFEST_NAME).write_text(json.dumps(m))
    return tmp_path / "datasets", tmp_path / "cache"


def test_fetch_notices_a_flipped_byte_in_the_cache(built, tmp_path):
    from peaknet_bench.data.download import fetch

    datasets, cache = _publish(built, tmp_path)
    path = fetch("tiny", "0.1", datasets_dir=datasets, cache_dir=cache, progress=False)
    big = max(read_manifest(built)["files"], key=lambda f: f["size"])
    target = path / big["path"]
    original = target.read_bytes()

    def flip() -> None:
        data = bytearray(original)
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))

    flip()  # same size, new mtime: the stamp no longer holds, so the file is hashed and fetched again
    assert fetch("tiny", "0.1", datasets_dir=datasets, cache_dir=cache, progress=False) == path
    assert target.read_bytes() == original

    st = target.stat()
    flip()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # a change that hides behind size and mtime
    fetch("tiny", "0.1", datasets_dir=datasets, cache_dir=cache, progress=False)
    assert target.read_bytes() != original  # the cheap check trusts the stamp ...
    fetch("tiny", "0.1", datasets_dir=datasets, cache_dir=cache, progress=False, verify=True)
    assert target.read_bytes() == original  # ... the full check does not


def test_a_damaged_cached_file_is_never_returned_as_verified(built, tmp_path):
    """With no good copy to fetch, the damaged file is an error naming it, not a silent return."""
    from peaknet_bench.data.download import DownloadError, fetch

    datasets, cache = _publish(built, tmp_path)
    path = fetch("tiny", "0.1", datasets_dir=datasets, cache_dir=cache, progress=False)
    big = max(read_manifest(built)["files"], key=lambda f: f["size"])
    target = path / big["path"]
    data = bytearray(target.read_bytes())
    data[0] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match=big["path"].rsplit("/", 1)[-1]):
        fetch("tiny", "0.1", datasets_dir=datasets, cache_dir=cache, progress=False,
              base_url=(tmp_path / "nowhere").as_uri())


def test_a_deleted_table_chunk_is_an_error_not_zeros(built, tmp_path):
    """Per-frame columns and peak tables are read through Zarr, which fills an absent chunk
    with zeros (a photon energy of 0, no peaks): a chunk the manifest lists must exist."""
    root = _copy(built, tmp_path)
    det = Store(root).detectors[0]
    chunk = root / STORE_DIRNAME / det / "frames" / "photon_energy_ev" / "c" / "0"
    assert chunk.is_file()
    chunk.unlink()
    with pytest.raises(InputError, match=rf"photon_energy_ev/c/0: {det}/frames: chunk file missing"):
        Store(root).frames(det)
    table = next((root / STORE_DIRNAME / det / "peaks").glob("*/fs/c/0"))
    table.unlink()
    with pytest.raises(InputError, match="chunk file missing"):
        Store(root).peaks(det, 0, table.parents[2].name)
