"""`smsgate send`'s pure half: text templates, CSV files, destinations, and the dry-run preview.
Everything wrong with a template or a file is an error before sending; a bad number is not."""

from __future__ import annotations

import pytest

from smsgate.config import Settings
from smsgate.operator.templates import (
    CsvError,
    TemplateError,
    check_number,
    parse_template,
    plan_numbers,
    plan_rows,
    preview,
    read_csv,
    split_numbers,
)

SRC = "14155550100"


def test_a_template_fills_its_fields_and_keeps_escaped_braces() -> None:
    template = parse_template("Hello {name}, your code is {code}. {{not a field}} {name}!")
    assert template.fields == ("name", "code")
    assert (
        template.render({"name": "Ann", "code": "1234"})
        == "Hello Ann, your code is 1234. {not a field} Ann!"
    )
    assert parse_template("no fields at all").fields == ()
    assert parse_template("{ first name }").fields == ("first name",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello {name", "expected '}'"),
        ("Hello name}", "Single '}'"),
        ("Hello {}", "a field names a column"),
        ("Hello {0}", "a field names a column"),
        ("Hello {name!r}", "formats and conversions are not supported"),
        ("Total {amount:>8}", "formats and conversions are not supported"),
    ],
)
def test_a_bad_template_is_an_error(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        parse_template(text)


def test_csv_takes_the_number_column_then_the_first_column() -> None:
    table = read_csv("name,number,code\nAnn,447700900123,1\n")
    assert table.number_column == "number" and table.columns == ("name", "number", "code")
    assert table.rows == ((2, {"name": "Ann", "number": "447700900123", "code": "1"}),)
    assert read_csv("phone,name\n447700900123,Ann\n").number_column == "phone"
    assert read_csv("a,mobile\n1,2\n", number_column="mobile").number_column == "mobile"
    with pytest.raises(CsvError, match="no column 'tel'"):
        read_csv("a,mobile\n1,2\n", number_column="tel")


def test_csv_reading_details() -> None:
    # A byte-order mark is the caller's (utf-8-sig); headers are stripped; blank lines and
    # quoted delimiters and line breaks are fine; line numbers are the file's.
    text = ' number , name \n\n447700900123,"Smith, Ann"\n447700900124,"two\nlines"\n'
    table = read_csv(text)
    assert table.columns == ("number", "name")
    assert [line for line, _ in table.rows] == [3, 5]
    assert table.rows[0][1]["name"] == "Smith, Ann" and table.rows[1][1]["name"] == "two\nlines"
    semicolons = read_csv("number;name\n447700900123;Ann\n", delimiter=";")
    assert semicolons.rows[0][1] == {"number": "447700900123", "name": "Ann"}
    short = read_csv("number,name,code\n447700900123,Ann\n")
    assert short.rows[0][1]["code"] is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("\n\n", "is empty"),
        ("number,name\n", "no rows"),
        ("number,number\n1,2\n", "names number more than once"),
        ("number,name\n447700900123,Ann,extra\n", "line 2 has 3 cells"),
        ('number,name\n447700900123,"Ann\n', "unexpected end of data"),
    ],
)
def test_a_bad_csv_is_an_error(text: str, message: str) -> None:
    with pytest.raises(CsvError, match=message):
        read_csv(text, name="people.csv")


def test_rows_fill_the_template_and_bad_numbers_are_reported_not_fatal() -> None:
    table = read_csv(
        "number,name,code\n"
        "+44 7700 900123,Ann,1234\n"
        "12345,Bob,99\n"
        "447700900124,Cy,5678\n"
        ",Nobody,1\n"
        f"{SRC},Self,2\n"
    )
    planned = plan_rows(parse_template("Hi {name}, code {code}"), table, SRC)
    assert [(p.where, p.dst, p.text, p.invalid) for p in planned] == [
        ("line 2", "447700900123", "Hi Ann, code 1234", ""),
        ("line 3", "", "", "not a phone number with its country code"),
        ("line 4", "447700900124", "Hi Cy, code 5678", ""),
        ("line 5", "", "", "no number"),
        ("line 6", "", "", "the same number as src"),
    ]
    assert planned[0].destination is not None and planned[0].destination.country_iso2 == "GB"
    assert planned[0].number == "+44 7700 900123"  # reported as given


def test_a_field_that_is_not_a_column_is_an_error() -> None:
    table = read_csv("number,name\n447700900123,Ann\n")
    with pytest.raises(TemplateError, match=r"\{code\}, which is not a column.*number, name"):
        plan_rows(parse_template("Hi {name}, code {code}"), table, SRC, name="people.csv")


def test_rows_without_a_value_for_a_field_are_an_error_naming_them() -> None:
    table = read_csv(
        "number,name,code\n447700900123,Ann,1\n447700900124,,2\n447700900125,Cy\n12,,\n"
    )
    template = parse_template("Hi {name}, code {code}")
    with pytest.raises(CsvError) as caught:
        plan_rows(template, table, SRC)
    message = str(caught.value)
    assert "line 3 ({name})" in message and "line 4 ({code})" in message
    assert "line 5" not in message  # its number is invalid: reported, its fields unchecked
    assert "--allow-empty" in message
    # An empty cell may fill a field when asked; a missing one may not.
    with pytest.raises(CsvError, match=r"line 4 \(\{code\}\)") as missing_only:
        plan_rows(template, table, SRC, allow_empty=True)
    assert "--allow-empty" not in str(missing_only.value)  # it would not help
    ok = read_csv("number,name,code\n447700900124,,2\n")
    assert plan_rows(template, ok, SRC, allow_empty=True)[0].text == "Hi , code 2"


def test_a_row_whose_text_comes_out_empty_is_an_error() -> None:
    table = read_csv("number,msg\n447700900123, \n")
    with pytest.raises(CsvError, match="the text is empty"):
        plan_rows(parse_template("{msg}"), table, SRC, allow_empty=True)


def test_many_bad_rows_are_summed_up() -> None:
    rows = "".join(f"4477009001{i:02},\n" for i in range(25))
    with pytest.raises(CsvError, match="and 15 more"):
        plan_rows(parse_template("Hi {name}"), read_csv("number,name\n" + rows), SRC)


def test_destinations_from_the_command_line() -> None:
    assert split_numbers(["447700900123, 447700900124", "447700900125<447700900126", " "]) == [
        "447700900123",
        "447700900124",
        "447700900125",
        "447700900126",
    ]
    planned = plan_numbers(
        ["447700900123", "+447700900123", "nope", "447700900124"], "Hi {name}", SRC
    )
    assert [(p.where, p.dst, p.text, p.invalid) for p in planned] == [
        ("--dst 1", "447700900123", "Hi {name}", ""),  # literal: no template without --csv
        ("--dst 3", "", "", "not a phone number with its country code"),
        ("--dst 4", "447700900124", "Hi {name}", ""),
    ]
    assert check_number("0447700900123", SRC)[0] is None


def test_preview_counts_as_the_gateway_does() -> None:
    settings = Settings()
    plain = preview("Hello", "GB", settings.languages_for)
    assert (plain.encoding, plain.units, plain.length, plain.problem) == ("GSM", 1, 5, "")
    long = preview("x" * 161, "GB", settings.languages_for)
    assert long.units == 2 and [len(p) for p in long.parts] == [153, 8]
    ucs2 = preview("Привет", "GB", settings.languages_for)
    assert ucs2.encoding == "UCS-2" and ucs2.units == 1
    # National tables where the destination's handsets read them, as the gateway chooses.
    turkish = preview("Çalışma saatleri ğüşiöç", "TR", settings.languages_for)
    assert turkish.encoding.startswith("GSM") and "turkish" in turkish.encoding
    assert preview("Çalışma saatleri ğüşiöç", "GB", settings.languages_for).encoding == "UCS-2"
    smart = preview("It’s", "GB", settings.languages_for, smart=True)
    assert smart.encoding == "GSM" and smart.text_sent == "It's"
    assert "too long" in preview("x" * 1601, "GB", settings.languages_for).problem
    assert "too long" in preview("я" * 738, "GB", settings.languages_for).problem
    assert "cannot be encoded" in preview("bad \ud800", "GB", settings.languages_for).problem
