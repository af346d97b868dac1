"""What ``smsgate send`` sends: destinations from the command line, or rows of a CSV file whose
fields fill a text template. Pure: it reads the text it is handed and raises before anything
could be sent when the template or the file is wrong.

A template is a text with ``{column}`` fields (``{{`` and ``}}`` for literal braces). Each row
of the CSV gives one message: its number column is the destination, its other cells fill the
fields. Rows whose number is not a possible international number are reported, not fatal;
everything else that is wrong (a field that is not a column, a row without a value for a field,
a row with more cells than the header) is an error naming the rows, raised before sending.
"""

from __future__ import annotations

import csv
import io
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from smsgate.core.submission import MAX_GSM_CHARACTERS, MAX_UCS2_CHARACTERS
from smsgate.text.errors import EncodeError
from smsgate.text.numbers import (
    Destination,
    check_destination,
    sanitize_destination,
    sanitize_sender,
)
from smsgate.text.segments import Encoding, segment

DEFAULT_NUMBER_COLUMN = "number"
#: Rows named in an error before "and N more".
SHOWN_ERRORS = 10


class TemplateError(ValueError):
    """The text template cannot be rendered: bad syntax, or a field no column fills."""


class CsvError(ValueError):
    """The CSV file cannot be sent as it is (the message names the lines)."""


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    #: (literal text, field name or None), in order.
    pieces: tuple[tuple[str, str | None], ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names, each once, in order of first use."""
        seen: dict[str, None] = {}
        for _, name in self.pieces:
            if name is not None:
                seen.setdefault(name, None)
        return tuple(seen)

    def render(self, values: Mapping[str, str]) -> str:
        """The text with every field filled; KeyError for a field ``values`` lacks."""
        return "".join(
            literal + ("" if name is None else values[name]) for literal, name in self.pieces
        )


def parse_template(text: str) -> Template:
    """Read ``text`` as a template of ``{column}`` fields."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(
            f"invalid text template: {exc} (write {{{{ and }}}} for literal braces)"
        ) from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        shown = (
            "{"
            + name
            + ("!" + conversion if conversion else "")
            + (":" + spec if spec else "")
            + "}"
        )
        if conversion or spec:
            raise TemplateError(
                f"invalid text template: {shown}: formats and conversions are not supported; "
                "a field is a column name in braces"
            )
        name = name.strip()
        if not name or name.isdigit():
            raise TemplateError(
                f"invalid text template: {shown}: a field names a column, like {{name}} "
                "(write {{ and }} for literal braces)"
            )
        pieces.append((literal, name))
    return Template(text, tuple(pieces))


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV file read: its column names, the number column, and each row with its line."""

    columns: tuple[str, ...]
    number_column: str
    #: (line number in the file, cells by column; None where the row has no cell).
    rows: tuple[tuple[int, dict[str, str | None]], ...]


def read_csv(
    source: str | Iterable[str],
    *,
    number_column: str | None = None,
    delimiter: str = ",",
    name: str = "the CSV file",
) -> Table:
    """Read a CSV with a header row. The number column is ``number_column``, else ``number``
    when there is one, else the first column. Blank lines are skipped."""
    lines = io.StringIO(source) if isinstance(source, str) else source
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header: list[str] | None = None
        for cells in reader:
            if any(cell.strip() for cell in cells):
                header = cells
                break
        if header is None:
            raise CsvError(f"{name} is empty: it needs a header row naming its columns")
        columns = tuple(cell.strip() for cell in header)
        named = [column for column in columns if column]
        duplicates = sorted({column for column in named if named.count(column) > 1})
        if duplicates:
            raise CsvError(f"{name}: the header names {', '.join(duplicates)} more than once")
        chosen = _number_column(columns, number_column, name)
        rows: list[tuple[int, dict[str, str | None]]] = []
        too_long: list[str] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            line = reader.line_num
            if len(cells) > len(columns):
                too_long.append(f"line {line} has {len(cells)} cells")
                continue
            values: dict[str, str | None] = dict.fromkeys(columns)
            for column, cell in zip(columns, cells, strict=False):
                values[column] = cell
            rows.append((line, values))
    except csv.Error as exc:
        raise CsvError(f"{name}: line {reader.line_num}: {exc}") from None
    if too_long:
        raise CsvError(
            f"{name}: the header has {len(columns)} columns but {_listed(too_long)} "
            f"(check the delimiter and the quoting)"
        )
    if not rows:
        raise CsvError(f"{name} has a header but no rows")
    return Table(columns, chosen, tuple(rows))


def _number_column(columns: Sequence[str], wanted: str | None, name: str) -> str:
    if wanted is not None:
        if wanted.strip() not in columns:
            raise CsvError(
                f"{name} has no column {wanted!r} for the numbers "
                f"(its columns: {', '.join(repr(c) for c in columns)})"
            )
        return wanted.strip()
    if DEFAULT_NUMBER_COLUMN in columns:
        return DEFAULT_NUMBER_COLUMN
    return columns[0]


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN_ERRORS])
    if len(items) > SHOWN_ERRORS:
        shown += f" and {len(items) - SHOWN_ERRORS} more"
    return shown


@dataclass(frozen=True, slots=True)
class Planned:
    """One message to send, or a row that cannot be sent because of its number."""

    #: Where it came from: "line 4" of the CSV, or "--dst 2" (the second number given).
    where: str
    number: str  # as given
    text: str  # "" when invalid
    destination: Destination | None = None
    invalid: str = ""  # why the number cannot be sent to

    @property
    def dst(self) -> str:
        return self.destination.number if self.destination else ""


def check_number(raw: str, src: str | None) -> tuple[Destination | None, str]:
    """The destination ``raw`` names, or None and why not (the gateway's own rules)."""
    digits = sanitize_destination(raw)
    if not digits:
        return None, "no number"
    found = check_destination(digits)
    if found is None:
        return None, "not a phone number with its country code"
    if src is not None and found.number == sanitize_sender(src):
        return None, "the same number as src"
    return found, ""


def split_numbers(values: Iterable[str]) -> list[str]:
    """Every number in ``values``: each may hold several, separated by ``,`` or ``<``."""
    found = []
    for value in values:
        for piece in value.replace("<", ",").split(","):
            if piece.strip():
                found.append(piece.strip())
    return found


def plan_numbers(numbers: Sequence[str], text: str, src: str | None) -> list[Planned]:
    """One message of ``text`` (taken literally) to each number; a number given twice once."""
    planned: list[Planned] = []
    seen: set[str] = set()
    for index, raw in enumerate(numbers, 1):
        where = f"--dst {index}"
        destination, why = check_number(raw, src)
        if destination is None:
            planned.append(Planned(where, raw, "", invalid=why))
        elif destination.number not in seen:
            seen.add(destination.number)
            planned.append(Planned(where, raw, text, destination))
    return planned


def plan_rows(
    template: Template,
    table: Table,
    src: str | None,
    *,
    allow_empty: bool = False,
    name: str = "the CSV file",
) -> list[Planned]:
    """One message per row of ``table``, its text ``template`` filled from the row.

    TemplateError when a field is not a column; CsvError naming the rows that lack a value
    for a field (an empty cell counts as missing unless ``allow_empty``) or whose text comes
    out empty. Rows whose number is invalid are returned as such, their fields unchecked."""
    unknown = [f for f in template.fields if f not in table.columns]
    if unknown:
        raise TemplateError(
            f"the text template uses {', '.join('{' + f + '}' for f in unknown)}, "
            f"which {'is not a column' if len(unknown) == 1 else 'are not columns'} of {name} "
            f"(its columns: {', '.join(c for c in table.columns if c)})"
        )
    planned: list[Planned] = []
    problems: list[str] = []
    empty_cells = False
    for line, values in table.rows:
        where = f"line {line}"
        raw = values[table.number_column] or ""
        destination, why = check_number(raw, src)
        if destination is None:
            planned.append(Planned(where, raw, "", invalid=why))
            continue
        missing = [
            f for f in template.fields if values[f] is None or (not allow_empty and not values[f])
        ]
        if missing:
            empty_cells = empty_cells or any(values[f] is not None for f in missing)
            problems.append(f"{where} ({', '.join('{' + f + '}' for f in missing)})")
            continue
        text = template.render({k: v or "" for k, v in values.items()})
        if not text.strip():
            problems.append(f"{where} (the text is empty)")
            continue
        planned.append(Planned(where, raw, text, destination))
    if problems:
        hint = "; --allow-empty sends empty cells as they are" if empty_cells else ""
        raise CsvError(f"{name}: no value for a field of the text on {_listed(problems)}{hint}")
    return planned


@dataclass(frozen=True, slots=True)
class Preview:
    """How one text would travel to one destination (``smsgate send --dry-run``)."""

    encoding: str  # GSM, GSM/turkish…, UCS-2
    units: int
    length: int  # septets or UTF-16 units
    characters: int
    text_sent: str
    problem: str = ""  # why the gateway would refuse it ("" when it would not)
    parts: tuple[str, ...] = field(default=())


def preview(
    text: str,
    country_iso2: str,
    languages_for: Callable[[str], tuple[int, ...]],
    smart: bool = False,
) -> Preview:
    """The encoding and parts of ``text`` for a destination in ``country_iso2``, as the
    gateway would choose them (with the same national language settings), and why it would
    refuse it, if it would."""
    try:
        seg = segment(text, languages=languages_for(country_iso2), smart=smart)
    except EncodeError as exc:
        return Preview("", 0, 0, len(text), text, f"cannot be encoded: {exc}")
    problem = ""
    if seg.encoding is Encoding.GSM7 and seg.characters > MAX_GSM_CHARACTERS:
        problem = f"too long: {seg.characters} GSM characters, at most {MAX_GSM_CHARACTERS}"
    elif seg.encoding is Encoding.UCS2 and seg.length > MAX_UCS2_CHARACTERS:
        problem = f"too long: {seg.length} UCS-2 characters, at most {MAX_UCS2_CHARACTERS}"
    return Preview(
        seg.name,
        seg.units,
        seg.length,
        seg.characters,
        seg.text,
        problem,
        tuple(part.text for part in seg.parts),
    )
