"""CSV ingestion into a domain's store: decode, check, normalize, profile, write atomically.

The file is streamed one physical line at a time, so memory does not grow with the number of
rows. Errors and rejections name columns, line numbers, counts and reason codes only: a cell
value or identifier from the file never reaches a message, a ``details`` entry or a
``Rejection``, since those travel to logs and screens outside the domain.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

from sandbox.datasets.cells import CellRejected, RowNormalizer, fold
from sandbox.datasets.quality import Profiler, Quality
from sandbox.datasets.schema import Schema
from sandbox.errors import InvalidInput, TooLarge

MAX_REJECTIONS_KEPT = 1000
PROGRESS_EVERY_ROWS = 5000
_BOM = b"\xef\xbb\xbf"
_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gbk": "GBK", "gb18030": "GB18030"}
_HEADERISH = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 1 << 30
    max_cell_chars: int = 4096
    max_columns: int = 200
    max_reject_ratio: float = 0.2

    @property
    def max_record_bytes(self) -> int:
        # Generous enough that an over-long cell is a rejection, not an error; it only stops a
        # file without line breaks from being read into memory whole.
        return self.max_columns * (4 * self.max_cell_chars + 3) * 2


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    column: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class IngestReport:
    encoding: str
    rows_read: int
    rows_loaded: int
    rejected_count: int
    rejections: tuple[Rejection, ...]
    fingerprint: str
    quality: Quality


class _Undecodable(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


# --- decoding ----------------------------------------------------------------------------


class _Lines:
    """The source's physical lines, decoded one at a time.

    Decoding line by line is sound because 0x0A is never part of a multi-byte UTF-8, GBK or
    GB18030 character, and it pins every decoding error to a line number.
    """

    def __init__(self, stream: IO[bytes], codec: str, limits: Limits) -> None:
        self._stream = stream
        self._codec = "utf-8" if codec == "utf-8-sig" else codec
        self._strip_bom = codec == "utf-8-sig"
        self._limits = limits
        self.line = 0
        self.bytes_read = 0
        self.record_bytes = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline(self._limits.max_record_bytes + 1)
        if not raw:
            raise StopIteration
        self.line += 1
        self.bytes_read += len(raw)
        self.record_bytes += len(raw)
        if self.bytes_read > self._limits.max_bytes:  # the file grew after the size check
            _too_large(self._limits)
        if self.record_bytes > self._limits.max_record_bytes:
            raise InvalidInput(
                f"a record reaching line {self.line} is longer than "
                f"{self._limits.max_record_bytes} bytes",
                code="dataset.csv",
                line=self.line,
            )
        if self.line == 1 and self._strip_bom and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if b"\x00" in raw:
            raise InvalidInput(f"NUL byte on line {self.line}", code="dataset.csv", line=self.line)
        try:
            return raw.decode(self._codec)
        except UnicodeDecodeError:
            raise _Undecodable(self.line) from None  # the error object holds the raw bytes


def _too_large(limits: Limits) -> NoReturn:
    raise TooLarge(
        f"the file is larger than the limit of {limits.max_bytes} bytes",
        code="dataset.too_large",
        max_bytes=limits.max_bytes,
    )


def _candidates(encoding: str, has_bom: bool) -> tuple[str, ...]:
    name = encoding.strip().lower().replace("_", "-")
    name = {"utf8": "utf-8", "utf8-sig": "utf-8-sig"}.get(name, name)
    if name == "auto":
        return ("utf-8-sig",) if has_bom else ("utf-8", "gb18030")
    if name in ("utf-8", "utf-8-sig"):
        return ("utf-8-sig" if has_bom else "utf-8",)
    if name in ("gbk", "gb18030"):
        return (name,)
    raise InvalidInput("encoding must be auto, utf-8, gbk or gb18030", code="dataset.encoding")


def _undecodable(failures: list[tuple[str, int]]) -> InvalidInput:
    parts = [
        f"{_LABELS[codec]} (first undecodable byte on line {line})" for codec, line in failures
    ]
    return InvalidInput(
        "the file is not valid " + " nor ".join(parts),
        code="dataset.encoding",
        # The encoding that decoded furthest is the likelier one, so its line is the one to fix.
        line=max(line for _, line in failures),
    )


# --- header and cells ------------------------------------------------------------------------


def _describe(name: str, position: int) -> str:
    # A header cell that does not look like a column name may be data from a file without a
    # header row, so it is named by position only.
    if _HEADERISH.fullmatch(name):
        return name
    return f"column {position} ({'blank' if not name else 'name not shown'})"


def _match_header(header: list[str], schema: Schema, limits: Limits) -> list[int]:
    """The file position of each schema column, in schema order."""
    if len(header) > limits.max_columns:
        raise InvalidInput(
            f"the header has {len(header)} columns, more than the limit of {limits.max_columns}",
            code="dataset.header",
        )
    names = [fold(h).lower() for h in header]
    expected = schema.column_names
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for position, name in enumerate(names, 1):
        if name in seen:
            duplicates.append(_describe(name, position))
        seen.setdefault(name, position)
    if duplicates:
        raise InvalidInput(
            "the header repeats columns: " + ", ".join(duplicates), code="dataset.header"
        )
    if not any(name in seen for name in expected):
        raise InvalidInput(
            f"the first row does not look like a header: none of its {len(names)} fields names "
            f"a column of the schema ({', '.join(expected)})",
            code="dataset.header",
        )
    missing = [name for name in expected if name not in seen]
    unexpected = [_describe(n, p) for p, n in enumerate(names, 1) if n not in expected]
    if missing or unexpected:
        problems = []
        if missing:
            problems.append("missing columns: " + ", ".join(missing))
        if unexpected:
            problems.append("unexpected columns: " + ", ".join(unexpected))
        raise InvalidInput(
            "the header does not match the schema: " + "; ".join(problems),
            code="dataset.header",
            missing=missing,
            unexpected=unexpected,
        )
    return [seen[name] - 1 for name in expected]


# --- the pass --------------------------------------------------------------------------------


class _HashingSink:
    """A text sink for csv.writer that writes UTF-8 and hashes exactly the bytes written."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.sha256.update(data)
        self._stream.write(data)
        return len(text)


def _csv_error(exc: csv.Error, start: int, lines: _Lines) -> InvalidInput:
    # csv's messages are fixed texts without data; "unexpected end of data" is an open quote.
    what = "an unclosed quote" if "end of data" in str(exc) else f"broken CSV ({exc})"
    return InvalidInput(
        f"{what} in the record starting on line {start} (detected on line {lines.line})",
        code="dataset.csv",
        line=start,
    )


def _load(
    src: IO[bytes],
    out: IO[bytes],
    schema: Schema,
    codec: str,
    limits: Limits,
    progress: Callable[[int, int], None] | None,
) -> IngestReport:
    lines = _Lines(src, codec, limits)
    reader = csv.reader(lines, strict=True)

    def records() -> Iterator[tuple[int, list[str]]]:
        while True:
            start = lines.line + 1
            lines.record_bytes = 0
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise _csv_error(exc, start, lines) from None
            if fields:  # csv yields [] for a blank line: it is not a record
                yield start, fields

    stream = records()
    first = next(stream, None)
    if first is None:
        raise InvalidInput("the file has no header row", code="dataset.empty")
    header = first[1]
    normalize = RowNormalizer(
        schema,
        _match_header(header, schema, limits),
        len(header),
        max_cell_chars=limits.max_cell_chars,
    )

    sink = _HashingSink(out)
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(schema.column_names)
    profiler = Profiler(schema)
    rows_read = loaded = rejected = bad_identifiers = 0
    rejections: list[Rejection] = []
    for start, fields in stream:
        rows_read += 1
        try:
            values = normalize(fields)
        except CellRejected as exc:
            rejected += 1
            if exc.reason.startswith("identifier."):
                bad_identifiers += 1
            if len(rejections) < MAX_REJECTIONS_KEPT:
                rejections.append(Rejection(start, exc.column, exc.reason))
        else:
            loaded += 1
            writer.writerow(values)
            profiler.add_values(values)
        if progress is not None and rows_read % PROGRESS_EVERY_ROWS == 0:
            progress(rows_read, lines.bytes_read)

    if rows_read and rejected / rows_read > limits.max_reject_ratio:
        first_lines = ", ".join(f"{r.line} ({r.reason})" for r in rejections[:5])
        raise InvalidInput(
            f"{rejected} of {rows_read} rows were rejected, more than the limit of "
            f"{limits.max_reject_ratio:.0%}; first rejected lines: {first_lines}",
            code="dataset.too_many_rejects",
            rejected_count=rejected,
            rows_read=rows_read,
            rejections=tuple(rejections),
        )
    if loaded == 0:
        raise InvalidInput("the file has no data rows to load", code="dataset.no_rows")
    return IngestReport(
        encoding=codec,
        rows_read=rows_read,
        rows_loaded=loaded,
        rejected_count=rejected,
        rejections=tuple(rejections),
        fingerprint="sha256:" + sink.sha256.hexdigest(),
        quality=profiler.result(rejected_rows=rejected, invalid_identifiers=bad_identifiers),
    )


def _load_into(
    source: Path,
    dest: Path,
    schema: Schema,
    codec: str,
    limits: Limits,
    progress: Callable[[int, int], None] | None,
) -> IngestReport:
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            report = _load(src, out, schema, codec, limits, progress)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return report


def ingest_csv(
    source: Path,
    schema: Schema,
    dest: Path,
    *,
    limits: Limits = Limits(),
    encoding: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> IngestReport:
    """Load a provider's CSV into ``dest`` as normalized UTF-8 CSV in schema column order.

    ``dest`` appears only when the whole load succeeds. With ``encoding="auto"`` a file that
    is not UTF-8 is read again as GB18030; ``progress`` then restarts from zero.
    """
    size = source.stat().st_size
    if size > limits.max_bytes:
        _too_large(limits)
    if size == 0:
        raise InvalidInput("the file is empty", code="dataset.empty")
    with source.open("rb") as probe:
        has_bom = probe.read(len(_BOM)) == _BOM
    failures: list[tuple[str, int]] = []
    for codec in _candidates(encoding, has_bom):
        try:
            return _load_into(source, dest, schema, codec, limits, progress)
        except _Undecodable as exc:
            failures.append((codec, exc.line))
    raise _undecodable(failures)


def iter_rows(path: Path, schema: Schema) -> Iterator[dict[str, str | None]]:
    """Read back a normalized store file written by ``ingest_csv``."""
    names = schema.column_names
    with path.open("r", encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream, strict=True)
        try:
            if next(reader, None) != list(names):
                raise InvalidInput(
                    "the stored file's header does not match its schema", code="store.corrupt"
                )
            for fields in reader:
                if len(fields) != len(names):
                    raise InvalidInput(
                        f"the stored file has a malformed record ending on line {reader.line_num}",
                        code="store.corrupt",
                        line=reader.line_num,
                    )
                yield {name: value or None for name, value in zip(names, fields, strict=True)}
        except (csv.Error, UnicodeDecodeError):
            raise InvalidInput(
                f"the stored file is not valid CSV near line {reader.line_num}",
                code="store.corrupt",
                line=reader.line_num,
            ) from None
