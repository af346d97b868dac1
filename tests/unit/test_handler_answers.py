"""What a keyword handler's answer means: webhooks' HTTP answers, Python handlers' results,
and the links they ask for (pure)."""

from __future__ import annotations

import orjson
import pytest

from smsgate.core.handlers import Answer, read_answer, result_answer
from smsgate.core.links import LinkSpec, is_preview_bot, link_spec, served_type
from smsgate.handlers_api import Handled, RetryLater

JSON = "application/json"


def answer(body: object, status: int = 200, content_type: str = JSON) -> Answer:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return read_answer(status, content_type, raw)


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (200, "", b""),
        (204, "", b""),
        (200, "text/plain", b"  \r\n"),
        (200, "text/plain", b"handled"),
        (200, "text/plain; charset=utf-8", b"HANDLED\n"),
        (200, "text/plain", b"ok"),
        (201, "text/html", b" OK "),
        (200, "", b"Ok"),
        (200, JSON, b'{"result": "handled"}'),
        (200, "", b'{"result": "Handled"}'),
        (200, "application/problem+json", b'{"result": "handled", "extra": 1}'),
    ],
)
def test_handled_answers(status: int, content_type: str, body: bytes) -> None:
    assert read_answer(status, content_type, body) == Answer("handled")


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error"),
    [
        (200, JSON, b'{"result": "retry"}', "retry requested"),
        (200, JSON, b'{"result": "retry", "reason": "stock"}', "retry requested: stock"),
        (200, "text/plain", b"retry", "retry requested"),
        (200, "text/plain", b"Send it again", "retry requested"),
        (200, "text/plain", b"send  it\nagain", "retry requested"),
        (503, "text/plain", b"handled", "retry requested: HTTP 503"),
        (429, "", b"", "retry requested: HTTP 429"),
    ],
)
def test_retry_answers(status: int, content_type: str, body: bytes, error: str) -> None:
    assert read_answer(status, content_type, body) == Answer("retry", error)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error"),
    [
        (500, "", b"", "HTTP 500"),
        (502, "text/plain", b"handled", "HTTP 502"),
        (404, "", b"ok", "HTTP 404"),
        (400, JSON, b'{"result": "handled"}', "HTTP 400"),
        (302, "", b"", "HTTP 302"),
        (200, "text/plain", b"thanks!", "neither handled nor retry"),
        (200, "text/html", b"<html>ok</html>", "neither handled nor retry"),
        (200, JSON, b"{not json", "not valid JSON"),
        (200, JSON, b"[1, 2]", "not an object"),
        (200, JSON, b'"handled"', "not an object"),
        (200, JSON, b"{}", '"result" is'),
        (200, JSON, b'{"result": "done"}', '"result" is'),
        (200, JSON, b'{"result": 1}', '"result" is'),
        (200, JSON, b'{"result": "handled", "reply": 5}', '"reply" is not text'),
        (200, JSON, b'{"result": "handled", "reply": "Here: {link}"}', 'no "link"'),
        (200, "text/plain", b"x" * (65 * 1024), "larger than 64 KiB"),
    ],
)
def test_failed_answers(status: int, content_type: str, body: bytes, error: str) -> None:
    got = read_answer(status, content_type, body)
    assert got.outcome == "failed"
    assert error in got.error
    assert got.reply is None and got.link is None


def test_a_reply_without_a_link() -> None:
    got = answer({"result": "handled", "reply": "Thanks, it is on its way."})
    assert got == Answer("handled", reply="Thanks, it is on its way.")
    assert answer({"result": "handled", "reply": ""}) == Answer("handled")
    assert answer({"result": "handled", "reply": None, "link": None}) == Answer("handled")


def test_a_reply_with_a_redirect_link() -> None:
    got = answer(
        {
            "result": "handled",
            "reply": "Your wallpaper: {link}",
            "link": {"redirect": "https://shop.example/unicorn.jpg"},
            "link_expires_in": 3600,
        }
    )
    assert got == Answer(
        "handled",
        reply="Your wallpaper: {link}",
        link=LinkSpec("redirect", "https://shop.example/unicorn.jpg", "", 3600),
    )


def test_a_reply_with_a_content_link() -> None:
    got = answer(
        {
            "result": "handled",
            "reply": "Ticket {link}",
            "link": {"content": "Row 4, seat 12", "content_type": "text/html"},
        }
    )
    # An HTML content is served as plain text: it never runs as a page of the gateway.
    assert got.link == LinkSpec("content", "Row 4, seat 12", "text/plain", None)
    got = answer({"result": "handled", "reply": "{link}", "link": {"content": "{}"}})
    assert got.link == LinkSpec("content", "{}", "text/plain", None)


@pytest.mark.parametrize(
    ("link", "extra", "error"),
    [
        ({"redirect": "javascript:alert(1)"}, {}, "http or https URL"),
        ({"redirect": "ftp://example.com/x"}, {}, "http or https URL"),
        ({"redirect": "https://"}, {}, "http or https URL"),
        ({"redirect": "https://a.example/\r\nSet-Cookie: x"}, {}, "http or https URL"),
        ({"redirect": 7}, {}, "URL of at most"),
        ({}, {}, "either redirect or content"),
        ({"redirect": "https://a.example", "content": "x"}, {}, "either redirect or content"),
        ({"content": 5}, {}, "content is text"),
        ({"content": "x"}, {"link_expires_in": 0}, "positive"),
        ({"content": "x"}, {"link_expires_in": "3600"}, "positive"),
        ({"content": "x"}, {"link_expires_in": True}, "positive"),
        ({"content": "x"}, {"link_expires_in": 10**9}, "at most"),
        ("https://a.example", {}, '"link" is not an object'),
    ],
)
def test_bad_links_fail_the_attempt(link: object, extra: dict[str, object], error: str) -> None:
    got = answer({"result": "handled", "reply": "See {link}", "link": link, **extra})
    assert got.outcome == "failed"
    assert error in got.error


def test_a_link_needs_a_reply_that_names_it() -> None:
    link = {"redirect": "https://a.example/x"}
    for reply in (None, "", "no placeholder"):
        got = answer({"result": "handled", "reply": reply, "link": link})
        assert got.outcome == "failed"
        assert "names {link}" in got.error


def test_python_results() -> None:
    assert result_answer(None) == Answer("handled")
    assert result_answer(Handled()) == Answer("handled")
    assert result_answer(Handled(reply="Hi")) == Answer("handled", reply="Hi")
    assert result_answer(RetryLater()) == Answer("retry", "retry requested")
    assert result_answer(RetryLater("busy")) == Answer("retry", "retry requested: busy")
    assert result_answer("handled").outcome == "failed"
    assert "returned str" in result_answer("handled").error
    assert result_answer(Handled(reply=3)).outcome == "failed"  # type: ignore[arg-type]


def test_link_specs() -> None:
    assert link_spec(redirect="http://a.example/x?y=1") == LinkSpec(
        "redirect", "http://a.example/x?y=1", ""
    )
    assert link_spec(content="{}", content_type="application/json; charset=latin-1") == (
        LinkSpec("content", "{}", "application/json")
    )
    with pytest.raises(ValueError, match="at most"):
        link_spec(content="x" * (64 * 1024 + 1))


@pytest.mark.parametrize(
    ("requested", "served"),
    [
        ("text/plain", "text/plain"),
        ("TEXT/CSV", "text/csv"),
        ("text/calendar; method=REQUEST", "text/calendar"),
        ("text/html", "text/plain"),
        ("image/svg+xml", "text/plain"),
        ("application/javascript", "text/plain"),
        ("text/plain\r\nX-Evil: 1", "text/plain"),
        ("", "text/plain"),
    ],
)
def test_served_types(requested: str, served: str) -> None:
    assert served_type(requested) == served


@pytest.mark.parametrize(
    ("agent", "bot"),
    [
        ("facebookexternalhit/1.1 Facebot Twitterbot/1.0", True),  # iMessage previews
        ("WhatsApp/2.23.20.0 A", True),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", True),
        ("TelegramBot (like TwitterBot)", True),
        ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", True),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", True),
        ("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", True),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            False,
        ),
        (
            "Mozilla/5.0 (Linux; Android 9; CUBOT X19 Build/PPR1) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36",
            False,
        ),
        ("", False),
    ],
)
def test_preview_bots(agent: str, bot: bool) -> None:
    assert is_preview_bot(agent) is bot
