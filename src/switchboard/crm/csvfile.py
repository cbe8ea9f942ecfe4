"""CSV import files -> (line, column -> value) records: the header checked, every
line decoded on its own so a byte that is not UTF-8 is reported where it is."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence

from .rows import Check


class _NotUtf8(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _decode(lines: Iterable[bytes]) -> Iterator[str]:
    """Line by line, so a byte that is not UTF-8 is reported on its own line."""
    for number, raw in enumerate(lines, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise _NotUtf8(number, exc.reason) from None


def records(
    check: Check, lines: Iterable[bytes], columns: Sequence[str], required: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, column -> value) for every non-blank row after the header. Problems with
    the header or the CSV itself are added to ``check`` and end the reading."""
    reader = csv.reader(_decode(lines), strict=True)
    header: list[str] | None = None
    last = 0  # the last physical line read so far
    try:
        for record in reader:
            line, last = last + 1, reader.line_num
            if not any(value.strip() for value in record):
                continue
            if header is None:
                header = _header(check, line, record, columns, required)
                if header is None:
                    return
            elif len(record) != len(header):
                check.add(
                    line,
                    "row",
                    f"{len(record)} values for {len(header)} columns "
                    '(a value holding a comma must be in double quotes: "Smith, John")',
                )
            else:
                yield line, dict(zip(header, record, strict=True))
    except _NotUtf8 as exc:
        check.add(exc.line, "file", f"not UTF-8 text ({exc.reason}; save the file as UTF-8)")
    except csv.Error as exc:
        check.add(
            last + 1,
            "file",
            f"not valid CSV from this line: {exc} (a value holding a comma, quote or line "
            'break is written in double quotes, with quotes inside doubled: "say ""hi""")',
        )
    if header is None and not check.problems:
        example = ",".join(columns)
        check.add(1, "header", f"the file is empty (the first line names the columns: {example})")


def _header(
    check: Check, line: int, record: list[str], columns: Sequence[str], required: Sequence[str]
) -> list[str] | None:
    names = [name.strip() for name in record]
    before = len(check.problems)
    for number, name in enumerate(names, start=1):
        if not name:
            check.add(line, "header", f"column {number} has no name (name it, or delete it)")
        elif name not in columns:
            check.unknown(line, "header", "column", name, columns)
        elif names.index(name) < number - 1:
            check.add(line, "header", f"column {name!r} is there twice (keep one)")
    for name in required:
        if name not in names:
            check.add(line, "header", f"no {name!r} column (it is required; see docs/crm.md)")
    return names if len(check.problems) == before else None
