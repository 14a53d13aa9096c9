"""Each finished job folder records the SHA-256 of each of its files in ``checksums.json``,
written last: a folder whose files do not match it (a truncated ``probabilities.npz``, a corrupt
``job.json``, a file gone) is damaged. A resumed run runs a damaged job again; a reader leaves
it out and says so in one line.
"""

import hashlib
import json
from pathlib import Path

CHECKSUMS_FILE = "checksums.json"
CHUNK = 1 << 20


def file_sha256(path):
    """The SHA-256 of the file at ``path``, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums_text(folder, leave_out=()):
    """``checksums.json`` for the files now in ``folder`` but itself: ``{file name: sha256}``;
    the names in ``leave_out`` are files about to be removed."""
    return json.dumps({path.name: file_sha256(path) for path in sorted(Path(folder).iterdir())
                       if path.is_file() and not path.name.startswith(".")
                       and path.name not in {CHECKSUMS_FILE, *leave_out}}, indent=1)


def damage(folder, required=True):
    """Why the job folder ``folder`` is damaged, in a few words, or None if it is whole.

    Parameters
    ----------
    folder : pathlib.Path
    required : bool
        Whether the folder must have ``checksums.json`` (folders written before checksums
        existed have none; their ``job.json`` must still read).
    """
    folder = Path(folder)
    listed = folder / CHECKSUMS_FILE
    if not listed.is_file():
        if required:
            return f"no {CHECKSUMS_FILE}"
        try:
            json.loads((folder / "job.json").read_text())
        except (OSError, ValueError) as exc:
            return f"job.json cannot be read: {type(exc).__name__}"
        return None
    try:
        expected = json.loads(listed.read_text())
    except (OSError, ValueError):
        return f"{CHECKSUMS_FILE} cannot be read"
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if file_sha256(path) != digest:
            return f"{name} does not match its checksum"
    return None
