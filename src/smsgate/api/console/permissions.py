"""``/admin/permissions``: the allow and deny rules on the destinations and sender IDs a
sender may use (see ``core/permissions.py``): every rule grouped by its subject, a new rule,
removing one, and "try it", which says whether a send would be allowed and which subject's
rules would refuse it. A change applies at once in this process (``permissions.forget``)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from smsgate.api.console.account_picker import default_choice, every_account, names
from smsgate.api.console.auth import Admin, CurrentAdmin
from smsgate.api.console.flash import Flash
from smsgate.api.console.forms import Form, FormError, form_action
from smsgate.api.console.rendering import page, redirect
from smsgate.api.smstools_api import FACE as SMSTOOLS_FACE
from smsgate.core.accounts import AUTH_ID
from smsgate.core.gateway import Gateway
from smsgate.core.models import Account
from smsgate.core.passcode_sends import submitter
from smsgate.core.passcodes import PassCode
from smsgate.core.permissions import (
    Effect,
    Kind,
    Rule,
    account_subject,
    check_rule_pattern,
    check_subject,
)
from smsgate.store import passcodes as passcode_store
from smsgate.store import permissions as permission_store
from smsgate.text.numbers import check_destination, sanitize_destination, sanitize_sender

router = APIRouter(prefix="/admin", include_in_schema=False)

KINDS = tuple(kind.value for kind in Kind)
EFFECTS = tuple(effect.value for effect in Effect)
#: The stored columns' sizes (``store/schema.py``).
MAX_PATTERN = 64
MAX_NOTE = 200
MAX_CREATED_BY = 100
_ACCOUNT = "account:"
_PASSCODE = "passcode/"


@dataclass(frozen=True, slots=True)
class Subject:
    """A subject as the page names it: what it is, and the page about it, if any."""

    subject: str
    description: str
    link: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    subject: Subject
    rules: list[Rule]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What "try it" found for a destination or a sender."""

    kind: str
    value: str
    refused_by: Subject | None


@dataclass(frozen=True, slots=True)
class Trial:
    account: Account
    levels: list[tuple[Subject, int]]  # each level's subject and how many rules it has
    verdicts: list[Verdict]


# naming subjects -----------------------------------------------------------------------------


def _code_id(subject: str) -> int | None:
    """The pass code a ``passcode/<id>`` subject names, as ``submitter`` writes it."""
    raw = subject.removeprefix(_PASSCODE)
    if subject == raw or not raw.isdigit() or len(raw) > 18 or str(int(raw)) != raw:
        return None
    return int(raw)


async def describe(
    gateway: Gateway, subjects: list[str], accounts: list[Account]
) -> dict[str, Subject]:
    """Each subject as the page names it: an account's auth_id and name, a pass code's label,
    a face's user."""
    by_auth_id = {a.auth_id: a for a in accounts}
    account_names = names(accounts)
    code_ids = [code_id for s in subjects if (code_id := _code_id(s)) is not None]

    def read(conn: Connection) -> dict[int, PassCode]:
        found = (passcode_store.by_id(conn, code_id) for code_id in code_ids)
        return {code.id: code for code in found if code is not None}

    codes = await gateway.db.read(read) if code_ids else {}
    users = {user.name: user for user in gateway.settings.smstools_api.users}
    named: dict[str, Subject] = {}
    for subject in subjects:
        face, _, user = subject.partition("/")
        if subject.startswith(_ACCOUNT):
            account = by_auth_id.get(subject.removeprefix(_ACCOUNT))
            if account is None:
                named[subject] = Subject(subject, "no such account")
                continue
            kind = "subaccount" if account.is_subaccount else "account"
            disabled = " (disabled)" if not account.enabled else ""
            named[subject] = Subject(
                subject,
                f"{kind} {account_names[account.id]}{disabled}",
                f"/admin/accounts/{account.auth_id}",
            )
        elif subject.startswith(_PASSCODE):
            code_id = _code_id(subject)
            code = codes.get(code_id) if code_id is not None else None
            if code is None:
                named[subject] = Subject(subject, "no such pass code")
                continue
            owner = next((a.auth_id for a in accounts if a.id == code.account_id), "")
            label = f" “{code.label}”" if code.label else ""
            named[subject] = Subject(
                subject,
                f"pass code {code.id}{label} of {owner}, {code.status(gateway.clock.now_us())}",
                "/admin/passcodes",
            )
        elif face == SMSTOOLS_FACE:
            known = users.get(user)
            if known is None:
                named[subject] = Subject(subject, f"smstools-http-api user {user} (not configured)")
            else:
                sends_as = f", sends as {known.account}" if known.account else ""
                named[subject] = Subject(subject, f"smstools-http-api user {user}{sends_as}")
        else:
            named[subject] = Subject(subject, f"user {user} of the face {face}")
    return named


def _suggestions(gateway: Gateway) -> list[str]:
    """Subjects other than accounts that a rule may be for, offered as the form is typed."""
    return [f"{SMSTOOLS_FACE}/{user.name}" for user in gateway.settings.smstools_api.users]


# the page ------------------------------------------------------------------------------------


async def show_rules(
    request: Request,
    admin: Admin,
    *,
    error: str | None = None,
    form: Form | None = None,
    trial: Trial | None = None,
    trial_values: dict[str, str] | None = None,
) -> Response:
    gateway: Gateway = request.app.state.gateway
    accounts = await every_account(gateway)
    wanted = request.query_params.get("subject", "").strip()
    subject_filter = ""
    if wanted:
        try:
            subject_filter = check_subject(wanted)
        except ValueError:
            error = error or (
                f"subject {wanted[:130]!r}: not a subject; use account:<auth_id>, passcode/<id> "
                "or <face>/<user>"
            )
    every_rule = await gateway.db.read(permission_store.listed)
    with_rules = sorted({rule.subject for rule in every_rule})
    # An unusable filter shows no rules (no rule's subject is "").
    rules = [r for r in every_rule if r.subject == subject_filter] if wanted else every_rule
    named = await describe(
        gateway, [*with_rules, subject_filter] if subject_filter else with_rules, accounts
    )
    groups = [
        Group(named[subject], list(group))
        for subject, group in groupby(rules, key=lambda rule: rule.subject)
    ]
    return await page(
        request,
        admin,
        "permissions.html",
        title="Permissions",
        section="permissions",
        status=400 if error else 200,
        error=error,
        groups=groups,
        subjects=[named[s] for s in with_rules],
        subject_filter=subject_filter,
        filter_subject=named.get(subject_filter),
        kinds=KINDS,
        effects=EFFECTS,
        accounts=accounts,
        account_names=names(accounts),
        suggestions=_suggestions(gateway),
        values=form.values if form else {"account": default_choice(accounts)},
        trial=trial,
        trial_values=trial_values or {"account": default_choice(accounts)},
    )


@router.get("/permissions")
async def listing(request: Request, admin: CurrentAdmin) -> Response:
    return await show_rules(request, admin)


async def _again(request: Request, admin: Admin, form: Form, error: str) -> Response:
    return await show_rules(request, admin, error=error, form=form)


# a new rule ----------------------------------------------------------------------------------


async def _subject(gateway: Gateway, form: Form, accounts: list[Account]) -> str:
    """The subject a rule is for: the one typed, else the account chosen."""
    typed = form.text("subject", "subject", max_length=120)
    if not typed:
        auth_id = form.raw("account").strip()
        if not any(a.auth_id == auth_id for a in accounts):
            raise FormError("subject: choose an account, or type a subject")
        return account_subject(auth_id)
    if AUTH_ID.fullmatch(typed):  # a bare auth_id, as the CLI takes it
        typed = account_subject(typed)
    try:
        subject = check_subject(typed)
    except ValueError:
        raise FormError(
            f"subject {typed!r}: choose an account, or type a pass code as passcode/<id> or a "
            f"face's user as <face>/<user>, such as {SMSTOOLS_FACE}/alice"
        ) from None
    if subject.startswith(_ACCOUNT):
        if not any(account_subject(a.auth_id) == subject for a in accounts):
            raise FormError(f"subject: there is no account {subject.removeprefix(_ACCOUNT)}")
    elif subject.startswith(_PASSCODE):
        code_id = _code_id(subject)
        code = (
            await gateway.db.read(lambda conn: passcode_store.by_id(conn, code_id))
            if code_id is not None
            else None
        )
        if code is None:
            raise FormError(
                f"subject: there is no pass code {subject.removeprefix(_PASSCODE)[:20]}"
            )
        return submitter(code)
    return subject


def _choice(form: Form, field: str, label: str, choices: tuple[str, ...]) -> str:
    value = form.raw(field).strip()
    if value not in choices:
        raise FormError(f"{label}: choose {' or '.join(choices)}")
    return value


@form_action(router, "/permissions", on_error=_again)
async def add(request: Request, admin: Admin, form: Form) -> Response:
    """Add a rule; it applies at once."""
    gateway: Gateway = request.app.state.gateway
    subject = await _subject(gateway, form, await every_account(gateway))
    kind = Kind(_choice(form, "kind", "kind", KINDS))
    effect = Effect(_choice(form, "effect", "effect", EFFECTS))
    raw = form.text("pattern", "pattern", max_length=MAX_PATTERN)
    if not raw:
        raise FormError(f"pattern: write the {kind.value} pattern the rule is about")
    try:
        pattern = check_rule_pattern(kind, raw)
    except ValueError as exc:
        raise FormError(str(exc)) from None
    note = form.text("note", "note", max_length=MAX_NOTE)
    now = gateway.clock.now_us()
    made = await gateway.writer.run(
        lambda conn: permission_store.insert(
            conn,
            subject=subject,
            kind=kind,
            effect=effect,
            pattern=pattern,
            note=note,
            created_by=f"console/{admin.username}"[:MAX_CREATED_BY],
            now=now,
        )
    )
    gateway.permissions.forget()
    return redirect(
        request,
        admin,
        "/admin/permissions?" + urlencode({"subject": subject}),
        Flash(f"Rule {made.id} added: {subject} {effect.value} {kind.value} {pattern}."),
    )


@form_action(router, "/permissions/{rule_id}/remove", on_error=_again)
async def remove(request: Request, admin: Admin, form: Form) -> Response:
    """Remove a rule at once."""
    gateway: Gateway = request.app.state.gateway
    raw = request.path_params["rule_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise FormError(f"there is no rule {raw[:20]}")
    rule_id = int(raw)
    gone = await gateway.writer.run(lambda conn: permission_store.remove(conn, rule_id))
    if gone is None:
        raise FormError(f"there is no rule {rule_id}: it may have been removed already")
    gateway.permissions.forget()
    return redirect(
        request,
        admin,
        "/admin/permissions?" + urlencode({"subject": gone.subject}),
        Flash(
            f"Rule {gone.id} removed: {gone.subject} {gone.effect.value} {gone.kind.value} "
            f"{gone.pattern}."
        ),
    )


# try it --------------------------------------------------------------------------------------


@router.get("/permissions/try")
async def try_it(request: Request, admin: CurrentAdmin) -> Response:
    """Whether an account (and a submitter within it) may send to a destination or from a
    sender, and which subject's rules refuse it. Reads only."""
    gateway: Gateway = request.app.state.gateway
    query = request.query_params
    values = {
        name: query.get(name, "")[:200]
        for name in ("account", "submitter", "destination", "sender")
    }
    try:
        trial = await _trial(gateway, values)
    except FormError as exc:
        return await show_rules(request, admin, error=exc.message, trial_values=values)
    return await show_rules(request, admin, trial=trial, trial_values=values)


async def _trial(gateway: Gateway, values: dict[str, str]) -> Trial:
    accounts = await every_account(gateway)
    auth_id = values["account"].strip()
    account = next((a for a in accounts if a.auth_id == auth_id), None)
    if account is None:
        raise FormError("try it: choose one of the accounts listed")
    by = values["submitter"].strip()
    if by:
        try:
            check_subject(by)
        except ValueError:
            raise FormError(
                f"try it: submitter {by!r}: a pass code as passcode/<id> or a face's user as "
                f"<face>/<user>, or nothing for the account itself"
            ) from None
        if by.startswith(_ACCOUNT):
            raise FormError(
                "try it: the submitter is a pass code or a face's user; the account's own rules "
                "(and its main account's) are always checked"
            )
    destination = values["destination"].strip()
    sender = values["sender"].strip()
    if not destination and not sender:
        raise FormError("try it: write a destination number, a sender ID, or both")
    checks: list[tuple[Kind, str, str]] = []
    if destination:
        found = check_destination(sanitize_destination(destination))
        if found is None:
            raise FormError(
                f"try it: destination {destination!r} is not a possible number: write it in "
                "international form, country code first (447700900123)"
            )
        checks.append((Kind.DESTINATION, found.number, found.country_iso2))
    if sender:
        src = sanitize_sender(sender)
        if not src:
            raise FormError(f"try it: sender {sender!r} has no letters or digits")
        checks.append((Kind.SENDER, src, ""))
    levels = await gateway.permissions.levels(account, by)
    named = await describe(gateway, [subject for subject, _ in levels.levels], accounts)
    verdicts = []
    for kind, value, country in checks:
        refused_by = levels.refuses(kind, value, country)
        shown = f"{value} ({country})" if country else value
        verdicts.append(
            Verdict(kind.value, shown, named[refused_by] if refused_by is not None else None)
        )
    return Trial(
        account=account,
        levels=[(named[subject], len(rules)) for subject, rules in levels.levels],
        verdicts=verdicts,
    )
