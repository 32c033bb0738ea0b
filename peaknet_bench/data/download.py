"""Download a dataset version by name: cache, resume, per-file sha256, progress bar.

The repository's ``datasets/<name>/<version>/manifest.json`` lists every file with its
size and sha256 and the base URLs it is published under (https, http or file). Files are
fetched one by one into ``$PEAKNET_BENCH_CACHE/<name>/<version>/`` (default
``~/.cache/peaknet-bench``).

Why not pooch.retrieve: pooch downloads each file whole into a temporary file and has no
resume; datasets here are many files of up to tens of MB, often fetched over flaky links.
So each file is downloaded into ``<file>.part`` with an HTTP ``Range`` request continuing
where the last attempt stopped (retried within one call, and resumed by the next call
after an interruption), then its sha256 is checked and it is renamed into place. A
mismatch removes the partial file and raises an error naming the file.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from peaknet_bench.data.manifest import (
    CARD_NAME, CROISSANT_NAME, MANIFEST_NAME, read_manifest, sha256_file,
)
from peaknet_bench.errors import InputError
from peaknet_bench.util.atomic import write_text_atomic
from peaknet_bench.util.stamp import file_stamp

_BLOCK = 1 << 16
_VERIFIED = ".verified"  # stamp: the manifest the cached copy was checked against + size/mtime/sha256 per file


class DownloadError(InputError):
    """A file could not be fetched or did not match its checksum (names the file)."""


def datasets_root() -> Path:
    """The folder of dataset version directories: $PEAKNET_BENCH_DATASETS, else the shipped
    cards, recipes and manifests (package data: the repository's ``datasets/`` in a checkout,
    $PEAKNET_BENCH_ROOT/datasets when that is set)."""
    env = os.environ.get("PEAKNET_BENCH_DATASETS")
    if env:
        return Path(env)
    from peaknet_bench.util.shipped import shipped_path

    return shipped_path("datasets")


def cache_root() -> Path:
    env = os.environ.get("PEAKNET_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "peaknet-bench"


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in v.split("."))


def resolve_version(name: str, version: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """The version directory of dataset `name` (the newest version when `version` is None)."""
    root = Path(root) if root is not None else datasets_root()
    base = root / name
    if not base.is_dir():
        have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise InputError(name, None, f"unknown dataset; known: {have} (in {root})")
    versions = sorted((p.name for p in base.iterdir() if (p / MANIFEST_NAME).is_file() or (p / "recipe.yaml").is_file()),
                      key=_version_key)
    if not versions:
        raise InputError(str(base), None, "no versions")
    if version is None:
        return base / versions[-1]
    if version not in versions:
        raise InputError(f"{name}:{version}", None, f"unknown version; have {versions}")
    return base / version


def parse_spec(spec: str) -> tuple[str, str | None]:
    """"name[:version]" -> (name, version or None)."""
    name, _, version = spec.partition(":")
    return name, (version or None)


def _join(base: str, rel: str) -> str:
    base = base if base.endswith("/") else base + "/"
    return urllib.parse.urljoin(base, urllib.parse.quote(rel))


def download_file(url: str, target: Path, size: int, sha256: str, *, pbar: Any = None,
                  retries: int = 3, timeout: float = 30.0) -> None:
    """Fetch one file into `target` with resume (``target.part`` + HTTP Range) and check it.

    Raises DownloadError naming the file when it cannot be fetched or its checksum differs.
    """
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    if part.exists() and part.stat().st_size > size:
        part.unlink()
    last_error: Exception | None = None
    for _attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        if pbar is not None:
            pbar.update(0)
        if have == size:
            break
        try:
            _fetch_from(url, part, have, pbar, timeout)
            last_error = None
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, OSError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code not in (408, 429, 500, 502, 503, 504):
                raise DownloadError(url, target.name, f"HTTP {exc.code} {exc.reason}") from None
            last_error = exc
            continue
    have = part.stat().st_size if part.exists() else 0
    if have != size:
        reason = f"{type(last_error).__name__}: {last_error}" if last_error else f"got {have} of {size} bytes"
        raise DownloadError(url, target.name, f"download incomplete ({have} of {size} bytes; {reason}); "
                                              "run the command again to resume")
    digest = sha256_file(part)
    if digest != sha256:
        part.unlink()
        raise DownloadError(url, str(target.name), f"sha256 mismatch: expected {sha256}, got {digest} "
                                                   "(partial file removed; the source copy may be corrupt)")
    os.replace(part, target)


def _fetch_from(url: str, part: Path, have: int, pbar: Any, timeout: float) -> None:
    """Append the bytes from offset `have` onwards to `part` (restart if the server ignores Range)."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme == "file":
        src = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        with open(src, "rb") as fin, open(part, "ab") as fout:
            fin.seek(have)
            while block := fin.read(_BLOCK):
                fout.write(block)
                if pbar is not None:
                    pbar.update(len(block))
        return
    if scheme not in ("http", "https"):
        raise DownloadError(url, None, "unsupported URL scheme (need https, http or file)")
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # our offset is past the end: start over
            part.unlink(missing_ok=True)
            raise ConnectionError("range not satisfiable; restarting") from None
        raise
    with resp:
        mode = "ab"
        if have and resp.status != 206:  # server ignored the range: take the whole body
            mode = "wb"
            if pbar is not None:
                pbar.update(-have)
        with open(part, mode) as fout:
            while True:
                block = resp.read(_BLOCK)
                if not block:
                    break
                fout.write(block)
                fout.flush()
                if pbar is not None:
                    pbar.update(len(block))


def _manifest_digest(manifest_path: Path) -> str:
    return hashlib.sha256(manifest_path.read_bytes()).hexdigest()


def _read_stamp(marker: Path, digest: str) -> dict[str, Any]:
    """Per-file stamps of the last verification against this manifest ({} if none or stale)."""
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("manifest_sha256") != digest or not isinstance(data.get("files"), dict):
        return {}
    return data["files"]


def _check_cached(dest: Path, files: list[dict[str, Any]], stamps: dict[str, Any], verify: bool,
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Manifest entries whose cached copy is missing or wrong, and fresh stamps of the good ones.

    A file is re-hashed when its size or mtime differs from its stamp (any write changes
    them), or for every file with `verify`; otherwise the stamped sha256 stands."""
    todo, good = [], {}
    for f in files:
        p = dest / f["path"]
        try:
            st = p.stat()
        except FileNotFoundError:
            todo.append(f)
            continue
        if st.st_size != f["size"]:
            todo.append(f)
            continue
        stamp = file_stamp(p, stamps.get(f["path"]), verify=verify)
        if stamp["sha256"] != f["sha256"]:
            todo.append(f)
            continue
        good[f["path"]] = stamp
    return todo, good


def fetch(name: str, version: str | None = None, *, base_url: str | None = None,
          cache_dir: str | os.PathLike | None = None, datasets_dir: str | os.PathLike | None = None,
          progress: bool | None = None, retries: int = 3, verify: bool = False) -> Path:
    """Download dataset `name` (newest version by default) into the cache and return its path.

    Files already in the cache with the right size and sha256 are kept; a previous
    interrupted download resumes. `base_url` overrides the manifest's URLs (https, http,
    file). Raises DownloadError naming the file on a checksum mismatch.

    A cached copy is checked on every call: a file whose size or mtime changed since its
    last verification is hashed again (and fetched again if it no longer matches); `verify`
    hashes every file, for a change that kept size and mtime.
    """
    from peaknet_bench.util.progress import bar

    vdir = resolve_version(name, version, datasets_dir)
    manifest_path = vdir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise InputError(str(vdir), None, "this version has no manifest yet; build it with "
                                          f"`peaknet-bench dataset build {vdir}`")
    manifest = read_manifest(manifest_path)
    dest = Path(cache_dir) if cache_dir is not None else cache_root()
    dest = dest / manifest["name"] / manifest["version"]
    marker = dest / _VERIFIED
    digest = _manifest_digest(manifest_path)
    stamps = _read_stamp(marker, digest)
    todo, good = _check_cached(dest, manifest["files"], stamps, verify)
    if not todo and good == stamps:
        return dest
    urls = [base_url] if base_url else list(manifest.get("base_urls") or [])
    if todo and not urls:
        raise InputError(f"{manifest['name']}:{manifest['version']}", "base_urls",
                         "the manifest names no download location; pass --base-url, or build it into the cache "
                         f"with `peaknet-bench dataset build {vdir}`")
    total = sum(int(f["size"]) for f in todo)
    errors: list[str] = []
    with bar(total, desc=f"download {manifest['name']} {manifest['version']}",
             disable=None if progress is None else not progress) as pbar:
        for f in todo:
            target = dest / f["path"]
            for i, base in enumerate(urls):
                try:
                    download_file(_join(base, f["path"]), target, int(f["size"]), f["sha256"], pbar=pbar, retries=retries)
                    st = target.stat()  # checked by download_file: stamp it without hashing again
                    good[f["path"]] = {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns), "sha256": f["sha256"]}
                    break
                except DownloadError as exc:
                    if i == len(urls) - 1:
                        errors.append(str(exc))
    if errors:
        raise DownloadError(f"{manifest['name']}:{manifest['version']}", None,
                            f"{len(errors)} file(s) failed:\n" + "\n".join(errors))
    write_text_atomic(dest / MANIFEST_NAME, manifest_path.read_text())
    for doc in (CARD_NAME, CROISSANT_NAME):
        if (vdir / doc).is_file():
            write_text_atomic(dest / doc, (vdir / doc).read_text())
    write_text_atomic(marker, json.dumps({"manifest_sha256": digest, "files": good}) + "\n")
    return dest

