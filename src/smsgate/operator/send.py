"""``smsgate send``: send one message, or one per row of a CSV through a text template, to a
running gateway over its Plivo-compatible API."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

import click

from smsgate.config import Settings
from smsgate.core.submission import LOG_VALUES
from smsgate.operator import templates as tpl
from smsgate.operator.common import gateway_url, read, store
from smsgate.text.numbers import sanitize_sender, sender_kind

if TYPE_CHECKING:
    from smsgate.cli import Context
    from smsgate.operator.sender import Credentials, Result

#: Numbers listed per reason in the summary before "and N more".
SHOWN_NUMBERS = 10


def _delimiter(value: str) -> str:
    named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
    found = named.get(value.lower(), value)
    if len(found) != 1:
        raise click.BadParameter(
            f"{value!r}: one character (or tab, comma, semicolon, pipe)", param_hint="--delimiter"
        )
    return found


def _plan(
    text: str,
    dsts: Sequence[str],
    csv_file: IO[str] | None,
    number_column: str | None,
    delimiter: str,
    allow_empty: bool,
    src: str | None,
) -> list[tpl.Planned]:
    if csv_file is not None and dsts:
        raise click.UsageError("give --dst or --csv, not both")
    if csv_file is None and not dsts:
        raise click.UsageError("give the destinations: --dst NUMBER (repeatable) or --csv FILE")
    if text == "":
        raise click.UsageError("--text is empty")
    if csv_file is None:
        if number_column is not None:
            raise click.UsageError("--number-column needs --csv")
        return tpl.plan_numbers(tpl.split_numbers(dsts), text, src)
    name = "standard input" if csv_file.name == "<stdin>" else str(csv_file.name)
    try:
        template = tpl.parse_template(text)
        table = tpl.read_csv(
            csv_file, number_column=number_column, delimiter=_delimiter(delimiter), name=name
        )
        return tpl.plan_rows(template, table, src, allow_empty=allow_empty, name=name)
    except (tpl.TemplateError, tpl.CsvError) as exc:
        raise click.ClickException(f"{exc}; nothing was sent") from None
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{name} is not UTF-8 text ({exc}); nothing was sent") from None


def _credentials(
    ctx: click.Context,
    settings: Settings,
    account: str | None,
    auth_id: str | None,
    auth_token: str | None,
) -> Credentials:
    from smsgate.operator.sender import Credentials
    from smsgate.store import accounts as account_store

    explicit = {
        name
        for name in ("auth_id", "auth_token")
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    }
    if account is not None and explicit:
        raise click.UsageError("give --account or --auth-id/--auth-token, not both")
    if account is None and (auth_id or auth_token):
        if not (auth_id and auth_token):
            missing = "--auth-token (or SMSGATE_AUTH_TOKEN)" if auth_id else "--auth-id"
            raise click.UsageError(f"{missing} is missing")
        return Credentials(auth_id, auth_token)
    with store(settings) as db:
        if account is not None:
            found = read(db, lambda conn: account_store.by_auth_id(conn, account))
            if found is None:
                raise click.ClickException(f"no account {account!r} in the store")
        else:
            found = read(db, account_store.first_main_account)
            if found is None:
                raise click.ClickException(
                    "no account yet: `smsgate accounts create` makes one, or give "
                    "--auth-id and --auth-token"
                )
    if not found.enabled:
        raise click.ClickException(f"account {found.auth_id} is disabled")
    return Credentials(found.auth_id, found.auth_token)


class _Progress:
    """A progress bar on stderr: drawn on a terminal; elsewhere, when asked for, a line a
    second."""

    def __init__(self, total: int, wanted: bool | None) -> None:
        self.total = total
        self.done = 0
        self.bar: Any = None
        self.plain = False
        self.shown_at = 0.0
        if wanted is False or total == 0:
            return
        if sys.stderr.isatty():
            self.bar = click.progressbar(
                length=total, label="sending", file=sys.stderr, show_pos=True
            )
            self.bar.__enter__()
        elif wanted:
            self.plain = True

    def step(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.plain:
            now = time.monotonic()
            if self.done == self.total or now - self.shown_at >= 1.0:
                self.shown_at = now
                click.echo(f"sending: {self.done}/{self.total}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _numbers(results: Sequence[Result]) -> str:
    shown = ", ".join(r.number for r in results[:SHOWN_NUMBERS])
    if len(results) > SHOWN_NUMBERS:
        shown += f" and {len(results) - SHOWN_NUMBERS} more"
    return shown


def _report(results: Sequence[Result], as_json: bool, stopped: str) -> bool:
    from smsgate.operator.sender import Counts, Status

    counts = Counts.of(results)
    if as_json:
        body: dict[str, Any] = {**counts.as_json(), "results": [r.as_json() for r in results]}
        if stopped:
            body["stopped"] = stopped
        click.echo(json.dumps(body, ensure_ascii=False))
        return counts.ok
    width = max([len(r.where) for r in results] + [4])
    number_width = max([len(r.number) for r in results] + [6])
    for r in results:
        if r.status is Status.QUEUED:
            parts = _plural(r.units, "part") if r.units else ""
            detail = f"{r.message_uuid}  {parts} {r.encoding or ''}".rstrip()
        else:
            detail = r.reason
        click.echo(f"{r.status.value:<9}{r.where:<{width}}  {r.number:<{number_width}}  {detail}")
    summary = (
        f"{counts.queued} queued, {counts.invalid} invalid, {counts.refused} refused, "
        f"{counts.failed} failed"
    )
    if counts.not_sent:
        summary += f", {counts.not_sent} not sent"
    click.echo(summary)
    for reason, rows in counts.reasons.items():
        click.echo(f"  {reason} ({len(rows)}): {_numbers(rows)}")
    if stopped:
        click.echo(f"stopped: {stopped}", err=True)
    return counts.ok


def _dry_run(
    planned: Sequence[tpl.Planned], settings: Settings, smart: bool, as_json: bool
) -> bool:
    """Show what would be sent; True when the gateway would take every valid row."""
    rows: list[dict[str, Any]] = []
    for item in planned:
        row: dict[str, Any] = {"where": item.where, "number": item.number}
        if item.destination is None:
            row.update(status="invalid", reason=item.invalid)
        else:
            seen = tpl.preview(
                item.text, item.destination.country_iso2, settings.languages_for, smart
            )
            row.update(
                status="refused" if seen.problem else "ready",
                reason=seen.problem or None,
                dst=item.dst,
                encoding=seen.encoding,
                units=seen.units,
                length=seen.length,
                characters=seen.characters,
                text=seen.text_sent,
                parts=list(seen.parts),
            )
        rows.append(row)
    ready = [r for r in rows if r["status"] == "ready"]
    summary = {
        "messages": len(ready),
        "units": sum(r["units"] for r in ready),
        "invalid": sum(r["status"] == "invalid" for r in rows),
        "refused": sum(r["status"] == "refused" for r in rows),
    }
    if as_json:
        click.echo(json.dumps({**summary, "dry_run": True, "results": rows}, ensure_ascii=False))
    else:
        for r in rows:
            if r["status"] == "invalid":
                click.echo(f"invalid  {r['where']}  {r['number']}  {r['reason']}")
                continue
            parts = _plural(r["units"], "part")
            unit = "septets" if r["encoding"].startswith("GSM") else "UTF-16 units"
            shape = f"{r['encoding']}, {parts}, {r['length']} {unit}" if r["encoding"] else "-"
            click.echo(f"{r['status']:<8} {r['where']}  {r['dst']}  {shape}")
            if r["reason"]:
                click.echo(f"    {r['reason']}")
            click.echo(f"    {r['text']}")
        messages, units = summary["messages"], summary["units"]
        click.echo(
            f"dry run: {_plural(messages, 'message')} in {_plural(units, 'part')} would be "
            f"sent; {summary['invalid']} invalid, {summary['refused']} refused; nothing was sent"
        )
    return bool(summary["refused"] == 0 and summary["messages"] > 0)


@click.command("send")
@click.option("--src", help="The sender: a number with its country code, a short code or an ID.")
@click.option(
    "--dst",
    "dsts",
    multiple=True,
    help="A destination, with its country code. Repeat it, or separate numbers with commas.",
)
@click.option("--text", required=True, help="The text; with --csv a template: 'Hi {name}'.")
@click.option(
    "--csv",
    "csv_file",
    type=click.File("r", encoding="utf-8-sig"),
    help="A CSV file with a header row: a number column and the template's fields ('-': stdin).",
)
@click.option(
    "--number-column", help="The CSV column of the numbers [default: number, else the first]."
)
@click.option("--delimiter", default=",", show_default=True, help="The CSV delimiter (or tab).")
@click.option("--allow-empty", is_flag=True, help="Let empty CSV cells fill fields as empty text.")
@click.option("--account", help="auth_id to send as; its token is read from the store.")
@click.option("--auth-id", envvar="SMSGATE_AUTH_ID", help="auth_id to send as [SMSGATE_AUTH_ID].")
@click.option(
    "--auth-token", envvar="SMSGATE_AUTH_TOKEN", help="Its auth_token [SMSGATE_AUTH_TOKEN]."
)
@click.option("--url", help="The running gateway (default: http://HOST:PORT from the settings).")
@click.option("--status-url", help="Where the gateway sends status callbacks (the API's url).")
@click.option("--log", "log_setting", type=click.Choice(LOG_VALUES), help="What the store keeps.")
@click.option(
    "--smart-encoding/--no-smart-encoding",
    default=None,
    help="Replace look-alike characters [default: the account's setting].",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr [default: when stderr is a terminal].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--dry-run", is_flag=True, help="Show the texts, encodings and parts; send nothing.")
@click.pass_context
def send(
    ctx: click.Context,
    src: str | None,
    dsts: tuple[str, ...],
    text: str,
    csv_file: IO[str] | None,
    number_column: str | None,
    delimiter: str,
    allow_empty: bool,
    account: str | None,
    auth_id: str | None,
    auth_token: str | None,
    url: str | None,
    status_url: str | None,
    log_setting: str | None,
    smart_encoding: bool | None,
    concurrency: int,
    progress: bool | None,
    as_json: bool,
    dry_run: bool,
) -> None:
    """Send a message to one or more numbers, or one message per row of a CSV file.

    \b
      smsgate send --src 14155550100 --dst 447700900123 --text 'Hello'
      smsgate send --src 14155550100 --csv people.csv --text 'Hi {name}, your code is {code}'

    Exits non-zero when anything was refused or failed, or nothing was queued."""
    obj: Context = ctx.obj
    settings = obj.settings()
    if src is not None and sender_kind(sanitize_sender(src)) is None:
        raise click.BadParameter(
            f"{src!r}: a number with its country code (at most 14 digits), a short code, "
            "or an ID of at most 11 letters and digits",
            param_hint="--src",
        )
    if src is None and not dry_run:
        raise click.UsageError("--src is missing (the sender)")
    planned = _plan(text, dsts, csv_file, number_column, delimiter, allow_empty, src)
    if dry_run:
        ctx.exit(0 if _dry_run(planned, settings, bool(smart_encoding), as_json) else 1)
    assert src is not None
    credentials = _credentials(ctx, settings, account, auth_id, auth_token)
    params: dict[str, Any] = {}
    if status_url is not None:
        params["url"] = status_url
    if log_setting is not None:
        params["log"] = log_setting
    if smart_encoding is not None:
        params["smart_encoding"] = smart_encoding
    ok = _send(
        planned,
        gateway_url(settings, url),
        credentials,
        src,
        params,
        concurrency,
        progress,
        as_json,
    )
    ctx.exit(0 if ok else 1)


def _send(
    planned: Sequence[tpl.Planned],
    base_url: str,
    credentials: Credentials,
    src: str,
    params: dict[str, Any],
    concurrency: int,
    progress: bool | None,
    as_json: bool,
) -> bool:
    from smsgate.operator.sender import Run, Sender

    sender = Sender(base_url, credentials, src, params=params, concurrency=concurrency)
    run = Run([None] * len(planned))
    bar = _Progress(len(planned), progress)
    interrupted = False
    try:
        asyncio.run(sender.send_all(planned, run, lambda _: bar.step()))
    except KeyboardInterrupt:
        interrupted = True
        run.stopped = run.stopped or "interrupted (Ctrl-C); requests in flight may have been queued"
    finally:
        bar.close()
    ok = _report(run.finished(planned), as_json, run.stopped)
    if interrupted:
        sys.exit(130)
    return ok
