"""Downloads from a local HTTP server: verification, fallback, resumption and clean failure."""

import dataclasses
import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from mnistbench.datasets import download
from mnistbench.datasets import sources as datasets
from mnistbench.errors import DataError
from mnistbench.datasets.readers import md5_hex, read_idx

FIRST = datasets.IDX_PARTS[0]


def idx_bytes(array):
    """The uncompressed IDX encoding of a uint8 array."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def flip_last_byte(data):
    return data[:-1] + bytes([data[-1] ^ 0xFF])


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }


@pytest.fixture(scope="module")
def gz_files(arrays):
    """Gzip-compressed bytes served for each part."""
    return {part: gzip.compress(idx_bytes(array)) for part, array in arrays.items()}


class Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, content_length, delay)``; 404 for anything else."""

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path not in self.server.routes:
            self.send_error(404)
            return
        body, length, delay = self.server.routes[self.path]
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout test)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "*")  # a proxy from the environment must not see 127.0.0.1
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.routes, httpd.requests = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def serve(server, gz_files, mirror="a", **overrides):
    """Serve every part under ``/<mirror>/``; ``overrides`` maps a part to a route tuple."""
    for part, body in gz_files.items():
        server.routes[f"/{mirror}/{part}.gz"] = overrides.get(part, (body, None, 0))


@pytest.fixture
def source(server, arrays):
    return dataclasses.replace(
        datasets.FASHION,
        md5={part: md5_hex(idx_bytes(array)) for part, array in arrays.items()},
        mirrors=(f"{server.url}/a/", f"{server.url}/b/"),
        system_dir=None,
        checksum=datasets.arrays_checksum(*(arrays[part].astype(np.int64) if "labels" in part
                                            else arrays[part] for part in datasets.IDX_PARTS)),
    )


def test_download_places_verified_files(server, gz_files, arrays, source, tmp_path):
    serve(server, gz_files)
    target = tmp_path / "cache" / "fashion"
    files = download.download_idx_files(source, target)
    assert list(files) == list(datasets.IDX_PARTS)
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{p}.gz" for p in files)
    for part, path in files.items():
        assert path == target / f"{part}.gz"
        np.testing.assert_array_equal(read_idx(path), arrays[part])


@pytest.mark.parametrize("route, reason", [
    (lambda body: (body, len(body) + 100, 0), "truncated ("),
    (lambda body: (body[:-20], None, 0), "truncated or damaged gzip;"),
    (lambda body: (gzip.compress(flip_last_byte(gzip.decompress(body))), None, 0),
     "checksum mismatch;"),
], ids=["short-body", "cut-gzip", "wrong-bytes"])
def test_bad_response_leaves_nothing_behind(server, gz_files, source, tmp_path, route, reason):
    serve(server, gz_files, **{FIRST: route(gz_files[FIRST])})
    with pytest.raises(DataError) as info:
        download.download_idx_files(source, tmp_path)
    message = str(info.value)
    assert f"file {FIRST}.gz" in message
    assert f"{server.url}/a/: {reason}" in message
    assert f"{server.url}/b/: HTTP 404)" in message
    assert "--data-dir" in message
    assert list(tmp_path.iterdir()) == []


def test_timeout_is_reported(server, gz_files, source, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "TIMEOUT", 0.2)
    serve(server, gz_files, **{FIRST: (gz_files[FIRST], None, 0.5)})
    with pytest.raises(DataError, match=f"{server.url}/a/: timeout;"):
        download.download_idx_files(source, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_falls_back_to_next_mirror(server, gz_files, arrays, source, tmp_path):
    serve(server, gz_files, mirror="b")
    files = download.download_idx_files(source, tmp_path)
    assert server.requests == [f"/{m}/{part}.gz" for part in datasets.IDX_PARTS for m in "ab"]
    np.testing.assert_array_equal(read_idx(files[FIRST]), arrays[FIRST])


def test_valid_files_are_kept_and_damaged_ones_replaced(server, gz_files, source, tmp_path):
    serve(server, gz_files)
    kept, damaged = datasets.IDX_PARTS[0], datasets.IDX_PARTS[1]
    (tmp_path / f"{kept}.gz").write_bytes(gz_files[kept])
    (tmp_path / f"{damaged}.gz").write_bytes(gz_files[damaged][:-5])
    files = download.download_idx_files(source, tmp_path)
    assert server.requests == [f"/a/{part}.gz" for part in datasets.IDX_PARTS[1:]]
    assert files[damaged].read_bytes() == gz_files[damaged]


def test_load_idx_dataset_downloads_into_cache(server, gz_files, arrays, source, tmp_path,
                                               monkeypatch):
    serve(server, gz_files)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    empty = tmp_path / "empty"
    empty.mkdir()
    dataset = datasets.load_idx_dataset(source, [empty])
    cache = tmp_path / "xdg" / "mnistbench" / "fashion"
    assert dataset.source == str(cache)
    assert dataset.checksum == source.checksum
    np.testing.assert_array_equal(dataset.X_test, arrays["t10k-images-idx3-ubyte"])
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{p}.gz" for p in datasets.IDX_PARTS)
