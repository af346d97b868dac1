"""The text engine against python-gsmmodem-new: the same inputs, one process, one run.

Three measures, each taken for both libraries:

- **encoding chosen + segments produced**: ours is ``smsgate.text.segments.segment(text)``;
  gsmmodem's is what its ``encodeSmsSubmitPdu`` does before it writes PDUs: ``encodeGsm7``
  (GSM-7 when it does not raise, else UCS-2), then ``divideTextGsm7``/``divideTextUcs2`` for
  a text over 160 septets / 70 characters. Reported as texts and as segments per second.
- **PDUs encoded**: SMS-SUBMIT PDUs for every text, segmentation included. Ours is
  ``submit_parts(destination, segment(text, reference=r), reference=r, status_report=True)``,
  gsmmodem's ``encodeSmsSubmitPdu(destination, text, reference=r, requestStatusReport=True)``.
- **PDUs decoded**: the same hex PDUs, an SMS-DELIVER and an SMS-SUBMIT for every part of every
  text (written by our encoder), through ``smsgate.text.pdu.decode`` and gsmmodem's
  ``decodeSmsPdu``.

The corpus is seeded, so every run measures the same 2,000 texts: about 35% short GSM-7
(codes, notifications, accented Latin), 20% GSM-7 with extension characters (€ [ ] { } ^ ~ |
\\), 15% long GSM-7 (2 to 6 parts), 20% short and 10% long UCS-2 (Cyrillic, Greek, Arabic,
Hebrew, Devanagari, Thai, Chinese, Japanese, and Latin text with an emoji or with one letter
outside GSM-7 such as á or ł). It keeps to characters both libraries handle: gsmmodem's
default table has "`" at 0x5F where TS 23.038 has "§", its extension table has "ÿ" where form
feed belongs, and its UCS-2 encoder writes each code point in two octets and so raises on one
above U+FFFF; the emoji are therefore those of the Basic Multilingual Plane (♥ ★ ✓ ☎ ✈ …).

Timing: ``time.perf_counter`` around a pass over the whole corpus; one warm-up pass each, then
the two libraries take turns, pass for pass, and each keeps its best pass. Nothing carries
over from one pass to the next except what a library builds once per process (our codec
tables and packing masks).

    python bench/text.py [--texts N] [--repeat N] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import TypeVar

import gsmmodem.pdu as gsmmodem

from smsgate.text.gsm7 import DEFAULT
from smsgate.text.pdu import decode
from smsgate.text.pdu.tpdu import deliver_parts, submit_parts
from smsgate.text.segments import segment

T = TypeVar("T")

TARGET = 3.0  # ours at least this many times gsmmodem's figure
DESTINATION = "+447700900123"
ORIGINATOR = "+31641600986"
SENT_AT = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
SEED = 20261122

# --- the corpus ---------------------------------------------------------------------------

_ENGLISH = (
    "your order has shipped and will arrive on Monday please call us back thank you for the "
    "payment we received balance account delivery parcel meeting reminder tomorrow at the "
    "office appointment confirmed cancelled reschedule reply STOP to opt out verification "
    "code expires in minutes do not share this with anyone store pickup ready table booked "
    "for two people flight boarding gate changed now invoice due today new login from device "
    "if this was not you contact support"
)
_ACCENTED = (
    "Müller café déjà vu señor mañana Straße København smørrebrød Ålesund Æble année città "
    "però più Zürich Öl Ñu Übergabe è à ù ì ò Ørsted Åse Göteborg Çà"
)
ENGLISH = _ENGLISH.split()
ACCENTED = _ACCENTED.split()
LATIN_UCS2 = ("Málaga", "São", "façade", "Łódź", "Škoda", "naïve", "Dvořák", "Brașov")
EXTENSION = "€[]{}^~|\\"
PUNCTUATION = ".,!?:;-'\"()&%#@*/+=<>_£$¥"
EMOJI = "☺☀★♥✓✔☎✈⚠❤☕⚽⭐✅✨❄☂♻⌛⏰"
SCRIPTS = {
    "russian": "ваш код подтверждения заказ доставлен сегодня спасибо встреча завтра в часов "
    "оплата получена баланс счёт посылка ждёт вас в пункте выдачи",
    "greek": "ο κωδικός σας είναι η παραγγελία παραδόθηκε ευχαριστούμε ραντεβού αύριο στις "
    "πληρωμή ελήφθη υπόλοιπο λογαριασμού",
    "arabic": "رمز التحقق الخاص بك هو تم شحن طلبك شكرا لك موعدك غدا الساعة تم استلام الدفع "
    "رصيد حسابك",
    "hebrew": "קוד האימות שלך הוא ההזמנה שלך נשלחה תודה רבה הפגישה מחר בשעה התשלום התקבל "
    "יתרת החשבון",
    "hindi": "आपका सत्यापन कोड है आपका ऑर्डर भेज दिया गया है धन्यवाद कल बैठक बजे भुगतान प्राप्त हुआ खाता शेष",
    "thai": "รหัสยืนยันของคุณคือ คำสั่งซื้อของคุณ จัดส่งแล้ว ขอบคุณ นัดหมาย พรุ่งนี้ เวลา ได้รับการชำระเงินแล้ว ยอดคงเหลือ",
    "chinese": "您的验证码是 您的订单 已发货 谢谢 明天 下午 会议 付款 已收到 账户 余额 请勿 泄露",
    "japanese": "認証コードは です ご注文の商品を 発送しました ありがとうございます 明日の "
    "会議は 時から お支払いを 確認しました",
}
#: Characters gsmmodem reads differently from TS 23.038 (see above).
EXCLUDED = frozenset("§`ÿ\f\x1b")


def _words(rng: random.Random, vocabulary: Sequence[str], size: int, extras: str = "") -> str:
    """Words up to about ``size`` characters, with numbers, punctuation and ``extras``."""
    out: list[str] = []
    length = 0
    while length < size:
        roll = rng.random()
        if roll < 0.08:
            word = str(rng.randint(0, 999_999))
        elif roll < 0.14:
            word = rng.choice(PUNCTUATION)
        elif extras and roll < 0.22:
            word = rng.choice(extras)
        else:
            word = rng.choice(vocabulary)
        out.append(word)
        length += len(word) + 1
    text = " ".join(out)
    return text[:size].rstrip() or text[:1]


def _gsm(rng: random.Random, size: int, extension: bool) -> str:
    vocabulary = ENGLISH * 4 + ACCENTED
    if rng.random() < 0.3:
        code = rng.randint(0, 999_999)
        template = rng.choice(
            (
                f"Your verification code is {code:06d}. It expires in 10 minutes.",
                f"{code:06d} is your login code. Do not share it.",
                f"Order #{code} shipped: total {rng.randint(5, 500)},{rng.randint(0, 99):02d} €"
                f" [tracking {code:x}]",
            )
        )
        if extension or "€" not in template:
            return template
    return _words(rng, vocabulary, size, EXTENSION if extension else "")


def _ucs2(rng: random.Random, size: int) -> str:
    script = rng.choice([*SCRIPTS, "latin+emoji", "latin+accent"])
    if script == "latin+emoji":
        text = _words(rng, ENGLISH, max(size - 2, 1))
        return f"{text} {rng.choice(EMOJI)}"
    if script == "latin+accent":  # one letter outside GSM-7 makes the whole text UCS-2
        words = _words(rng, ENGLISH + ACCENTED, size).split(" ")
        words[rng.randrange(len(words))] = rng.choice(LATIN_UCS2)
        return " ".join(words)
    text = _words(rng, SCRIPTS[script].split(), size, EMOJI)
    return text if DEFAULT.septets(text) is None else text + rng.choice(EMOJI)


def corpus(count: int = 2000, seed: int = SEED) -> list[str]:
    """``count`` texts, the same for the same seed (see the module's description)."""
    rng = random.Random(seed)
    texts: list[str] = []
    while len(texts) < count:
        roll = rng.random()
        if roll < 0.35:
            text = _gsm(rng, rng.randint(12, 160), extension=False)
        elif roll < 0.55:
            text = _gsm(rng, rng.randint(20, 300), extension=True)
        elif roll < 0.70:
            text = _gsm(rng, rng.randint(161, 900), extension=rng.random() < 0.5)
        elif roll < 0.90:
            text = _ucs2(rng, rng.randint(8, 70))
        else:
            text = _ucs2(rng, rng.randint(71, 330))
        if EXCLUDED.isdisjoint(text) and all(ord(char) <= 0xFFFF for char in text):
            texts.append(text)
    return texts


def pdus_of(texts: Sequence[str]) -> list[tuple[str, str]]:
    """(hex PDU, direction): an SMS-DELIVER and an SMS-SUBMIT for every part of every text."""
    delivers: list[tuple[str, str]] = []
    submits: list[tuple[str, str]] = []
    for index, text in enumerate(texts):
        seg = segment(text, reference=index & 0xFF)
        for pdu in deliver_parts(ORIGINATOR, seg, timestamp=SENT_AT):
            delivers.append((pdu.hex(), "mt"))
        for pdu in submit_parts(DESTINATION, seg, reference=index & 0xFF, status_report=True):
            submits.append((pdu.hex(), "mo"))
    return delivers + submits


# --- the work timed, for each library ------------------------------------------------------


def ours_segment(texts: Sequence[str]) -> int:
    parts = 0
    for text in texts:
        parts += len(segment(text).parts)
    return parts


def gsmmodem_divide(text: str) -> tuple[bool, list[str]]:
    """gsmmodem's choice (True: GSM-7) and its parts, as encodeSmsSubmitPdu makes them."""
    try:
        length = len(gsmmodem.encodeGsm7(text))
    except ValueError:
        if len(text) > gsmmodem.MAX_MESSAGE_LENGTH[0x08]:
            return False, gsmmodem.divideTextUcs2(text)
        return False, [text]
    if length > gsmmodem.MAX_MESSAGE_LENGTH[0x00]:
        return True, gsmmodem.divideTextGsm7(text)
    return True, [text]


def gsmmodem_segment(texts: Sequence[str]) -> int:
    parts = 0
    for text in texts:
        parts += len(gsmmodem_divide(text)[1])
    return parts


def ours_encode(texts: Sequence[str]) -> int:
    pdus = 0
    for index, text in enumerate(texts):
        reference = index & 0xFF
        seg = segment(text, reference=reference)
        pdus += len(submit_parts(DESTINATION, seg, reference=reference, status_report=True))
    return pdus


def gsmmodem_encode(texts: Sequence[str]) -> int:
    pdus = 0
    for index, text in enumerate(texts):
        pdus += len(
            gsmmodem.encodeSmsSubmitPdu(
                DESTINATION, text, reference=index & 0xFF, requestStatusReport=True
            )
        )
    return pdus


def ours_decode(pdus: Sequence[tuple[str, str]]) -> int:
    for pdu, direction in pdus:
        decode(pdu, direction=direction)
    return len(pdus)


def gsmmodem_decode(pdus: Sequence[tuple[str, str]]) -> int:
    for pdu, _direction in pdus:
        gsmmodem.decodeSmsPdu(pdu)
    return len(pdus)


def agreement(texts: Sequence[str], pdus: Sequence[tuple[str, str]]) -> tuple[int, int]:
    """How many texts both split alike (encoding and number of parts), and how many PDUs both
    read as the same text: a check that the two sides do the same work."""
    split_alike = 0
    for text in texts:
        seg = segment(text)
        gsm, parts = gsmmodem_divide(text)
        split_alike += (seg.alphabet is not None) == gsm and seg.units == len(parts)
    read_alike = 0
    for pdu, direction in pdus:
        ours = decode(pdu, direction=direction)
        read_alike += getattr(ours, "text", None) == gsmmodem.decodeSmsPdu(pdu)["text"]
    return split_alike, read_alike


# --- timing -------------------------------------------------------------------------------


def best_rates(
    ours: Callable[[T], int], theirs: Callable[[T], int], inputs: T, repeat: int
) -> tuple[tuple[float, int], tuple[float, int]]:
    """For each side, (items per second over its best pass, items per pass). One warm-up pass
    each, then ``repeat`` timed passes each, the sides taking turns (and turns at going
    first) so that both meet the same conditions on a shared machine."""
    counts = (ours(inputs), theirs(inputs))
    best = [float("inf"), float("inf")]
    for round_ in range(repeat):
        for side in (0, 1) if round_ % 2 == 0 else (1, 0):
            work = ours if side == 0 else theirs
            started = time.perf_counter()
            work(inputs)
            best[side] = min(best[side], time.perf_counter() - started)
    return (counts[0] / best[0], counts[0]), (counts[1] / best[1], counts[1])


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    ours: float  # per second
    theirs: float

    @property
    def ratio(self) -> float:
        return self.ours / self.theirs


def run(count: int = 2000, repeat: int = 15, seed: int = SEED) -> list[Row]:
    """Measure, print the table, and return its rows."""
    texts = corpus(count, seed)
    pdus = pdus_of(texts)
    septets = [DEFAULT.septets(text) for text in texts]
    gsm = [s for s in septets if s is not None]
    ucs2 = [len(text) for text, s in zip(texts, septets, strict=True) if s is None]

    (ours_texts, ours_parts), (their_texts, their_parts) = best_rates(
        ours_segment, gsmmodem_segment, texts, repeat
    )
    (ours_enc, ours_pdus), (their_enc, their_pdus) = best_rates(
        ours_encode, gsmmodem_encode, texts, repeat
    )
    (ours_dec, _), (their_dec, _) = best_rates(ours_decode, gsmmodem_decode, pdus, repeat)
    split_alike, read_alike = agreement(texts, pdus)

    print(
        f"Text engine: smsgate against python-gsmmodem-new {_version()}, one process, "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; best of {repeat} passes each"
    )
    print(
        f"  corpus (seed {seed}): {len(texts):,} texts, {len(gsm):,} GSM-7 "
        f"({min(gsm)}-{max(gsm)} septets) and {len(ucs2):,} UCS-2 "
        f"({min(ucs2)}-{max(ucs2)} characters), in {ours_parts:,} parts (gsmmodem: "
        f"{their_parts:,})"
    )
    print(
        f"  SMS-SUBMIT PDUs encoded per pass: {ours_pdus:,} (gsmmodem: {their_pdus:,}); "
        f"PDUs decoded per pass: {len(pdus):,} ({len(pdus) - ours_pdus:,} SMS-DELIVER, "
        f"{ours_pdus:,} SMS-SUBMIT)"
    )
    print(
        f"  both choose the encoding and the number of parts alike for {split_alike:,} of "
        f"{len(texts):,} texts, and read {read_alike:,} of {len(pdus):,} PDUs as the same text"
    )
    rows = [
        Row("texts segmented (encoding chosen)", ours_texts, their_texts),
        Row(
            "segments produced",
            ours_texts * ours_parts / len(texts),
            their_texts * their_parts / len(texts),
        ),
        Row("PDUs encoded (SMS-SUBMIT)", ours_enc, their_enc),
        Row("PDUs decoded (DELIVER + SUBMIT)", ours_dec, their_dec),
    ]
    print(f"\n{'figure':<34} {'ours/s':>10} {'gsmmodem/s':>11} {'ratio':>7}  >= {TARGET:.0f}x")
    for row in rows:
        met = "yes" if row.ratio >= TARGET else "NO"
        print(f"{row.figure:<34} {row.ours:>10,.0f} {row.theirs:>11,.0f} {row.ratio:>6.1f}x  {met}")
    return rows


def _version() -> str:
    try:
        return version("python-gsmmodem-new")
    except PackageNotFoundError:
        return "(version unknown)"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=2000, help="texts in the corpus")
    parser.add_argument("--repeat", type=int, default=15, help="timed passes per side")
    parser.add_argument("--seed", type=int, default=SEED, help="the corpus's seed")
    args = parser.parse_args(argv)
    run(args.texts, args.repeat, args.seed)


if __name__ == "__main__":
    main()
