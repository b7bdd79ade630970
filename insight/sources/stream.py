"""Large CSV files read a block of whole records at a time, each block checked as a whole file would be.

A block is the header followed by the next records up to about :data:`BLOCK_BYTES` of
text, cut at a line end outside any quoted field, and read with
:func:`~insight.sources.base.read_csv_text`: the same field-count, column and value
checks as reading the file at once. Problem rows are numbered from the start of the
file, as they are when it is read at once. Once any block has a problem nothing more
is handed out, but every block is still checked, so the error lists every problem.
"""
from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd

from insight.errors import LoadError, Problem
from insight.sources.base import fail, read_csv_text

STREAM_BYTES = 50 << 20
BLOCK_BYTES = 16 << 20
GZIP_RATIO = 5
_READ = 1 << 20


class Checked(Protocol):
    """What a chunk checker returns: the rows as points (None when there are problems) and the problems."""

    @property
    def frame(self) -> gpd.GeoDataFrame | None:
        """The checked points."""

    @property
    def problems(self) -> list[Problem]:
        """Problems, rows numbered from 1 within the chunk, sorted by row."""


class Tally(Protocol):
    """What a loader counts over the chunks of a file for its notes."""

    def add(self, checked: Any) -> None:
        """Count the next checked chunk."""

    def notes(self) -> list[str]:
        """The notes for the whole file."""


@dataclass(frozen=True)
class StreamReader:
    """How a loader checks a file chunk by chunk: its required columns, its checker and its tally."""

    required: tuple[str, ...]
    check: Callable[[pd.DataFrame], Checked]
    tally: Callable[[], Tally]


STREAM_READERS: dict[str, StreamReader] = {}


def register_stream_reader(name: str, reader: StreamReader) -> None:
    """Let ingest read large files of loader ``name`` (without options) chunk by chunk."""
    STREAM_READERS[name] = reader


def stream_reader(name: str) -> StreamReader | None:
    """The chunk reader registered for loader ``name``, if any."""
    return STREAM_READERS.get(name)


def text_size(path: Path) -> int:
    """About how many bytes of text ``path`` holds (gzip files counted at :data:`GZIP_RATIO` times)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        return size * GZIP_RATIO if fh.read(2) == b"\x1f\x8b" else size


def is_large(path: Path) -> bool:
    """True when ``path`` is big enough to be read chunk by chunk (:data:`STREAM_BYTES` of text or more)."""
    return text_size(path) >= STREAM_BYTES


class _Reader(Protocol):
    """Something bytes are read from."""

    def read(self, size: int, /) -> bytes:
        """Up to ``size`` bytes; empty at the end."""


class _Hashing(io.RawIOBase):
    """A binary file that feeds every byte read through a digest."""

    def __init__(self, raw: IO[bytes], digest: Any) -> None:
        self.raw, self.digest, self.done = raw, digest, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.done += len(data)
        return data


def _record_end(buf: bytes, last: bool) -> int:
    """Index just after the last (or first) line end that is outside quotes; -1 when there is none."""
    end = buf.rfind(b"\n") if last else buf.find(b"\n")
    if end < 0 or buf.find(b'"', 0, end) < 0:
        return end + 1 if end >= 0 else -1
    data = np.frombuffer(buf, dtype=np.uint8)
    quotes = np.flatnonzero(data == 34)
    newlines = np.flatnonzero(data == 10)
    outside = newlines[np.searchsorted(quotes, newlines) % 2 == 0]
    if not len(outside):
        return -1
    return int(outside[-1 if last else 0]) + 1


def _blocks(path: Path, source: _Reader, size: int) -> Iterator[bytes]:
    """The header plus the next whole records, about ``size`` bytes of them at a time."""
    pending, header, handed = b"", None, False
    while True:
        try:
            data = source.read(size)
        except (OSError, EOFError, zlib.error) as err:
            fail(path, [Problem(f"corrupt or truncated gzip data: {err}")])
        if not data:
            break
        pending += data
        if header is None:
            cut = _record_end(pending, last=False)
            if cut < 0:
                continue
            header, pending = pending[:cut], pending[cut:]
        cut = _record_end(pending, last=True)
        if cut > 0 and pending[:cut].strip():
            yield header + pending[:cut]
            pending, handed = pending[cut:], True
        elif cut > 0:
            pending = pending[cut:]
    if header is None:
        yield pending
    elif pending.strip() or not handed:
        yield header + pending


def _records(data: bytes) -> int:
    """How many non-blank records after the header ``data`` holds (for a block that could not be read)."""
    text = data.decode("utf-8", errors="replace")
    try:
        return max(sum(1 for r in csv.reader(io.StringIO(text, newline="")) if r) - 1, 0)
    except csv.Error:
        return max(data.count(b"\n") - 1, 0)


class StreamedFile:
    """A CSV file checked and handed out chunk by chunk (see the module's description).

    Iterate :meth:`frames` for the checked points of each chunk; then :meth:`raise_problems`
    raises every problem found, and :attr:`rows_read`, :meth:`notes` and :meth:`checksum`
    describe the whole file. ``extra(frame, first_row)`` checks each good chunk further
    (e.g. text lengths); its problems come last, after the loader's own.
    """

    def __init__(self, path: Path, reader: StreamReader, *,
                 extra: Callable[[pd.DataFrame, int], list[Problem]] | None = None,
                 block_bytes: int | None = None) -> None:
        """Prepare to read ``path`` with ``reader``; nothing is read yet."""
        self.path, self.reader, self.extra = path, reader, extra
        self.block_bytes = block_bytes or BLOCK_BYTES
        self.rows_read = 0
        self.fraction = 0.0
        self.structural: list[Problem] = []
        self.general: list[Problem] = []
        self.values: list[Problem] = []
        self.late: list[Problem] = []
        self.tally = reader.tally()
        self._digest = hashlib.sha256()

    @property
    def failed(self) -> bool:
        """True once any problem has been found."""
        return bool(self.structural or self.general or self.values or self.late)

    def frames(self) -> Iterator[tuple[int, gpd.GeoDataFrame]]:
        """Each chunk's checked points with the file row of its first, until a problem is found."""
        size = self.path.stat().st_size or 1
        with self.path.open("rb") as raw:
            hashing = _Hashing(raw, self._digest)
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            source: _Reader = gzip.GzipFile(fileobj=hashing, mode="rb") if gzipped else hashing
            for data in _blocks(self.path, source, self.block_bytes):
                self.fraction = hashing.done / size
                first = self.rows_read + 1
                frame = self._read(data)
                del data
                if frame is None or self.structural or self.general:
                    continue
                checked = self.reader.check(frame)
                self.tally.add(checked)
                self.values += [dataclasses.replace(p, row=(p.row or 0) + first - 1) for p in checked.problems]
                if checked.frame is not None and self.extra is not None:
                    self.late += self.extra(checked.frame, first)
                if checked.frame is not None and not self.failed:
                    yield first, checked.frame
            while hashing.read(_READ):
                pass
        self.fraction = 1.0

    def _read(self, data: bytes) -> pd.DataFrame | None:
        """One block as a frame of text, or None (its problems noted) when it cannot be read."""
        try:
            frame = read_csv_text(self.path, required=self.reader.required, data=data)
        except LoadError as err:
            for p in err.problems:
                if p.row is not None:
                    self.structural.append(dataclasses.replace(p, row=p.row + self.rows_read))
                elif p not in self.general:
                    self.general.append(p)
            self.rows_read += _records(data)
            return None
        self.rows_read += len(frame)
        return frame

    def raise_problems(self) -> None:
        """Raise LoadError with the problems found, in the order reading the whole file reports them."""
        for problems in (self.structural, self.general, self.values, self.late):
            if problems:
                raise LoadError(self.path.name or str(self.path), list(problems))

    def notes(self) -> list[str]:
        """The loader's notes for the whole file."""
        return self.tally.notes()

    def checksum(self) -> str:
        """SHA-256 of the file's bytes (complete once :meth:`frames` is exhausted)."""
        return self._digest.hexdigest()
