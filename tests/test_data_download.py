"""Download by name from a local HTTP server: cache, resume after interruption, checksums."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from peaknet_bench.cli import main
from peaknet_bench.data.download import DownloadError, fetch, resolve_version
from peaknet_bench.data.manifest import MANIFEST_NAME, read_manifest, verify_dir
from synthetic_records import build_tiny


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with Range support; `cut` cuts the first response of each listed file after N bytes."""

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        server = self.server
        rel = self.path.lstrip("/")
        server.requests.append((rel, self.headers.get("Range")))
        path = Path(self.directory) / rel
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = server.cut.pop(rel, None)
        self.wfile.write(body[:cut] if cut is not None else body)
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A built tiny dataset served over HTTP, and a datasets/ folder whose manifest points at it."""
    root = tmp_path_factory.mktemp("pub")
    built = build_tiny(root / "site" / "tiny" / "0.1").path
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Handler, directory=str(built)))
    server.requests, server.cut = [], {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    vdir = root / "datasets" / "tiny" / "0.1"
    vdir.mkdir(parents=True)
    m = read_manifest(built)
    m["base_urls"] = [url]
    import json

    (vdir / MANIFEST_NAME).write_text(json.dumps(m))
    shutil.copy(built / "recipe.yaml", vdir / "recipe.yaml")
    yield {"built": built, "datasets": root / "datasets", "server": server, "url": url}
    server.shutdown()


def _big_file(manifest) -> str:
    return max(manifest["files"], key=lambda f: f["size"])["path"]


def test_fetch_by_name_with_interrupted_file(published, tmp_path):
    server = published["server"]
    m = read_manifest(published["built"])
    big = _big_file(m)
    size = next(f["size"] for f in m["files"] if f["path"] == big)
    server.cut[big] = size // 3
    server.requests.clear()
    path = fetch("tiny", "0.1", cache_dir=tmp_path, datasets_dir=published["datasets"], progress=False)
    assert path == tmp_path / "tiny" / "0.1"
    assert verify_dir(path, m).ok
    ranges = [r for rel, r in server.requests if rel == big]
    assert ranges == [None, f"bytes={size // 3}-"]  # second request resumed where the cut happened
    # A second fetch is served from the cache without any request.
    server.requests.clear()
    fetch("tiny", cache_dir=tmp_path, datasets_dir=published["datasets"], progress=False)
    assert server.requests == []


def test_resume_across_runs(published, tmp_path):
    """An interrupted run leaves a .part file; the next run asks only for the missing bytes."""
    server = published["server"]
    m = read_manifest(published["built"])
    big = _big_file(m)
    size = next(f["size"] for f in m["files"] if f["path"] == big)
    server.cut[big] = size // 2
    with pytest.raises(DownloadError, match="incomplete"):
        fetch("tiny", "0.1", cache_dir=tmp_path, datasets_dir=published["datasets"], progress=False, retries=0)
    part = tmp_path / "tiny" / "0.1" / (big + ".part")
    assert part.stat().st_size == size // 2
    server.requests.clear()
    fetch("tiny", "0.1", cache_dir=tmp_path, datasets_dir=published["datasets"], progress=False, retries=0)
    assert [r for rel, r in server.requests if rel == big] == [f"bytes={size // 2}-"]
    assert not part.exists()


def test_checksum_mismatch_names_file(published, tmp_path):
    m = read_manifest(published["built"])
    bad_site = tmp_path / "site"
    shutil.copytree(published["built"], bad_site)
    victim = _big_file(m)
    data = bytearray((bad_site / victim).read_bytes())
    data[10] ^= 0x01
    (bad_site / victim).write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="sha256 mismatch") as exc:
        fetch("tiny", "0.1", base_url=bad_site.as_uri(), cache_dir=tmp_path / "cache",
              datasets_dir=published["datasets"], progress=False)
    assert Path(victim).name in str(exc.value)
    assert not (tmp_path / "cache" / "tiny" / "0.1" / (victim + ".part")).exists()


def test_file_url_and_cli(published, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PEAKNET_BENCH_DATASETS", str(published["datasets"]))
    monkeypatch.setenv("PEAKNET_BENCH_CACHE", str(tmp_path))
    rc = main(["dataset", "download", "tiny:0.1", "--base-url", published["built"].as_uri(), "--json"])
    assert rc == 0
    assert '"files"' in capsys.readouterr().out
    assert verify_dir(tmp_path / "tiny" / "0.1").ok
    assert main(["dataset", "info", "tiny", "--json"]) == 0
    assert '"local": true' in capsys.readouterr().out


def test_unknown_names(published):
    from peaknet_bench.errors import InputError

    with pytest.raises(InputError, match="unknown dataset"):
        resolve_version("nope", None, published["datasets"])
    with pytest.raises(InputError, match="unknown version"):
        resolve_version("tiny", "9.9", published["datasets"])
