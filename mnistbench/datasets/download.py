"""Download IDX files into the cache: verified before use, resumed file by file, never half-written.

Each file is streamed into a temporary file next to its target and moved into place with
``os.replace`` only once its uncompressed bytes match the published MD5, so an interrupted or
corrupt download leaves nothing behind that a later run could mistake for data.
"""

import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from mnistbench.errors import DataError
from mnistbench.datasets.readers import IDX_PARTS, md5_hex, read_bytes

TIMEOUT = 30  # seconds, for connecting and for each read
CHUNK_SIZE = 1 << 16


def download_idx_files(source, target_dir):
    """Download the four IDX files of ``source`` into ``target_dir``, verifying each one.

    Parts already present in ``target_dir`` with the published MD5 are kept, so an interrupted
    download resumes file by file. Mirrors are tried in order for each part.

    Parameters
    ----------
    source : mnistbench.datasets.sources.IdxSource
        Supplies ``mirrors`` (base URLs ending in ``/``) and ``md5`` (of the uncompressed files).
    target_dir : str or pathlib.Path
        Where the ``<part>.gz`` files go; created if missing.

    Returns
    -------
    dict
        Maps each name in ``IDX_PARTS`` to the :class:`pathlib.Path` of its verified ``.gz`` file.

    Raises
    ------
    DataError
        When every mirror fails for a part; the message gives each mirror's reason.
    """
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    return {part: _download_part(source, part, target_dir) for part in IDX_PARTS}


def _download_part(source, part, target_dir):
    path = target_dir / f"{part}.gz"
    if path.is_file() and _check(path, source.md5[part]) is None:
        return path
    reasons = []
    for mirror in source.mirrors:
        reason = _fetch(f"{mirror}{part}.gz", path, source.md5[part])
        if reason is None:
            return path
        reasons.append(f"{mirror}: {reason}")
    remedy = "put the four IDX files in --data-dir"
    if source.system_package:
        remedy += f" or install Debian's {source.system_package} ({source.system_dir})"
    raise DataError(f"cannot download {source.title} file {path.name} ({'; '.join(reasons)}); "
                    f"{remedy}")


def _fetch(url, path, md5):
    """Download ``url`` to ``path`` if it verifies against ``md5``; else return why not."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            reason = _stream(url, out, path.name)
        reason = reason or _check(tmp, md5)
        if reason is None:
            os.replace(tmp, path)
        return reason
    finally:
        tmp.unlink(missing_ok=True)


def _stream(url, out, name):
    """Copy the body of ``url`` to the file ``out``; return why it failed, or None."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            length = response.headers.get("Content-Length", "")
            total = int(length) if length.isdigit() else None
            received = 0
            with tqdm(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                      disable=None) as bar:
                while chunk := response.read(CHUNK_SIZE):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except http.client.IncompleteRead:
        return "truncated"
    except TimeoutError:
        return "timeout"
    except urllib.error.URLError as exc:
        return "timeout" if isinstance(exc.reason, TimeoutError) else str(exc.reason)
    except (OSError, http.client.HTTPException) as exc:
        return str(exc) or type(exc).__name__
    if total is not None and received < total:
        return f"truncated ({received} of {total} bytes)"
    return None


def _check(path, md5):
    """Return why ``path`` is not the file with uncompressed MD5 ``md5``, or None if it is."""
    try:
        data = read_bytes(path)
    except DataError:
        return "truncated or damaged gzip"
    return None if md5_hex(data) == md5 else "checksum mismatch"
