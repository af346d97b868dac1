"""Smart encoding: look-alikes replaced only when that makes the text GSM."""

from __future__ import annotations

from smsgate.text.gsm7 import is_gsm7
from smsgate.text.segments import segment
from smsgate.text.smart import LOOKALIKES, smarten


def test_typographic_punctuation_becomes_gsm() -> None:
    text = "“Don’t” — it’s\u00a0100 % done…"
    seg = segment(text, smart=True)
    assert seg.name == "GSM"
    assert seg.text == "\"Don't\" - it's 100 % done..."
    assert seg.replaced == 7
    assert segment(text).name == "UCS-2"  # off unless asked


def test_every_replacement_is_gsm() -> None:
    for char, replacement in LOOKALIKES.items():
        assert not is_gsm7(char) or char in "\t`", char
        assert is_gsm7(replacement), (char, replacement)


def test_a_text_that_stays_ucs2_is_left_alone() -> None:
    text = "Привет “мир”"
    seg = segment(text, smart=True)
    assert (seg.name, seg.text, seg.replaced) == ("UCS-2", text, 0)


def test_smarten_counts_replacements() -> None:
    assert smarten("plain") == ("plain", 0)
    assert smarten("ＡＢＣ\u200b") == ("ABC", 4)
