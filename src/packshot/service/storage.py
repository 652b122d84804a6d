"""Result and input files on local disk, and expiring signed links to results.

Files live under ``<data_dir>/results/<job>/<name>`` and ``<data_dir>/inputs/<job>/<name>``;
every job id and file name is checked against a strict pattern and the resolved path is
checked to stay inside its folder, so no request can name a file elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from packshot.errors import InputError
from packshot.imageio import write_bytes
from packshot.service.errors import LinkExpiredError, NotFoundError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def safe_name(name: str, what: str = "file name") -> str:
    """``name`` if it is a plain file name (no separators, no '..', no leading dot)."""
    if not _NAME.match(name) or ".." in name:
        raise InputError(
            f"The {what} {name!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "only, starting with a letter or digit."
        )
    return name


def _inside(root: Path, *parts: str) -> Path:
    base = root.resolve()
    path = base.joinpath(*(safe_name(p) for p in parts)).resolve()
    if base not in path.parents:
        raise InputError(f"The path {'/'.join(parts)!r} is outside the storage folder.")
    return path


class Storage:
    """The result and input folders of one server."""

    def __init__(self, results: Path, inputs: Path, key: bytes, ttl_s: int) -> None:
        self.results = results
        self.inputs = inputs
        self._key = key
        self.ttl_s = ttl_s

    def result_path(self, job_id: str, name: str) -> Path:
        return _inside(self.results, job_id, name)

    def input_path(self, job_id: str, name: str) -> Path:
        return _inside(self.inputs, job_id, name)

    def put_result(self, job_id: str, name: str, data: bytes) -> Path:
        return write_bytes(self.result_path(job_id, name), data)

    def put_input(self, job_id: str, name: str, data: bytes) -> Path:
        return write_bytes(self.input_path(job_id, name), data)

    def read_input(self, job_id: str, name: str) -> bytes:
        path = self.input_path(job_id, name)
        if not path.is_file():
            raise NotFoundError(f"The input {name!r} of job {job_id} is no longer stored.")
        return path.read_bytes()

    def _root(self, kind: str) -> Path:
        return self.results if kind == "results" else self.inputs

    def job_folders(self, kind: str) -> Iterator[tuple[str, float]]:
        """(job id, folder mtime) of every job folder of ``kind`` (results or inputs)."""
        root = self._root(kind)
        if not root.is_dir():
            return
        for entry in root.iterdir():
            if entry.is_dir() and _NAME.match(entry.name):
                try:
                    yield entry.name, entry.stat().st_mtime
                except FileNotFoundError:
                    continue  # removed meanwhile (another server's sweep)

    def remove(self, kind: str, job_id: str) -> None:
        """Delete a job's folder of ``kind`` and everything in it."""
        shutil.rmtree(_inside(self._root(kind), job_id), ignore_errors=True)

    def _sign(self, kind: str, job_id: str, name: str, expires: int) -> str:
        message = f"{kind}/{job_id}/{name}:{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def link(self, base_url: str, job_id: str, name: str, kind: str = "results") -> str:
        """An absolute URL to a stored file that works for ``ttl_s`` seconds."""
        expires = int(time.time()) + self.ttl_s
        sig = self._sign(kind, job_id, name, expires)
        query = urllib.parse.urlencode({"expires": expires, "sig": sig})
        return f"{base_url.rstrip('/')}/v1/files/{kind}/{job_id}/{name}?{query}"

    def open_link(self, kind: str, job_id: str, name: str, expires: int, sig: str) -> Path:
        """The file a signed link names, after checking its signature and expiry."""
        if kind not in ("results", "inputs"):
            raise NotFoundError(f"No such file kind {kind!r}.")
        expected = self._sign(kind, job_id, name, expires)
        if not hmac.compare_digest(expected, sig):
            raise LinkExpiredError("The link's signature is not valid.")
        if expires < time.time():
            raise LinkExpiredError("The link has expired; fetch the job again for a fresh one.")
        path = (self.result_path if kind == "results" else self.input_path)(job_id, name)
        if not path.is_file():
            raise NotFoundError(f"The file {name!r} of job {job_id} is no longer stored.")
        return path
