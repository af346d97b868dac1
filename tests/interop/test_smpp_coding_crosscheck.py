"""Our SMPP short_message coding against independent implementations.

smpplib (PyPI): ``smpplib.gsm.make_parts`` splits GSM 03.38 (unpacked, one septet an octet)
and UCS-2 texts with an 8-bit reference UDH or for SAR; its parts must be ours, byte for byte,
where its simpler splitting agrees with ours, and we must read all of them back. gsm0338
(PyPI): its codec writes the default alphabet as unpacked septets, as our GSM short_messages
are. node-smpp (npm ``smpp``): its short_message filter reads our parts, header and national
locking table included, and writes the same bytes for the same part.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from smsgate.smpp.coding import decode_short_message, submit_parts
from smsgate.text.gsm7 import DEFAULT, Alphabet
from smsgate.text.pdu.reassembly import join
from smsgate.text.segments import segment
from smsgate.text.udh import Concat
from tests.support import need_peer

try:
    from smpplib import consts as smpp_consts
    from smpplib import gsm as smpp_gsm
except ImportError:  # pragma: no cover - the dev dependencies have it
    smpp_gsm = smpp_consts = None

SOME = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def smpplib() -> Any:
    need_peer(smpp_gsm is not None, "smpplib is not installed: pip install -e '.[dev]'")
    return smpp_gsm


def _smpplib_encodes_alike(char: str) -> bool:
    if smpp_gsm is None:
        return False
    try:
        return bool(smpp_gsm.gsm_encode(char) == DEFAULT.encode(char))
    except UnicodeError:
        return False


#: The GSM characters smpplib's table writes as we do (it lacks "§"), without and with escapes.
GSM_CHARS = sorted(char for char in DEFAULT.costs() if _smpplib_encodes_alike(char))
DIRECT_CHARS = [char for char in GSM_CHARS if DEFAULT.costs()[char] == 1]
#: Characters no GSM table has, in the basic multilingual plane.
NOT_GSM = st.characters(
    min_codepoint=0x100, max_codepoint=0xFFFD, exclude_categories=["Cs", "Co", "Cn"]
).filter(lambda char: char not in DEFAULT.costs())


def texts(chars: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    """Texts of one part and, as often, of several."""
    return st.one_of(
        st.text(chars, min_size=1, max_size=max_size),
        st.text(chars, min_size=max_size // 3, max_size=max_size),
    )


def direct_text(max_size: int) -> st.SearchStrategy[str]:
    return texts(st.sampled_from(DIRECT_CHARS), max_size)


def gsm_text(max_size: int) -> st.SearchStrategy[str]:
    return texts(st.sampled_from(GSM_CHARS), max_size)


def ucs2_text(max_size: int) -> st.SearchStrategy[str]:
    chars = st.one_of(st.sampled_from(GSM_CHARS), NOT_GSM)
    text = st.tuples(NOT_GSM, texts(chars, max_size - 1))
    return text.map(lambda pair: pair[0] + pair[1])


def read_parts(
    parts: list[bytes], data_coding: int, esm_class: int
) -> tuple[str, list[Concat | None]]:
    got = [decode_short_message(data_coding, esm_class, part, {}) for part in parts]
    return join([item.text for item in got]), [item.concat for item in got]


# --- smpplib ------------------------------------------------------------------------------


@SOME
@given(text=st.one_of(direct_text(700), ucs2_text(300)))
def test_smpplib_udh_parts_are_ours(smpplib: Any, text: str) -> None:
    theirs, coding, esm_class = smpplib.make_parts(text)
    ucs2 = coding == smpp_consts.SMPP_ENCODING_ISO10646
    assert ucs2 == (DEFAULT.septets(text) is None)
    reference = theirs[0][3] if len(theirs) > 1 else 0
    ours = submit_parts(text, "UCS-2" if ucs2 else "GSM", reference=reference)
    assert [part.short_message for part in ours] == theirs
    assert all(part.data_coding == coding for part in ours)
    assert all(part.esm_class_udhi == bool(esm_class & 0x40) for part in ours)
    whole, concats = read_parts(theirs, coding, esm_class)
    assert whole == text
    if len(theirs) > 1:
        assert concats == [Concat(reference, len(theirs), n, 8) for n in range(1, len(theirs) + 1)]


@SOME
@given(text=st.one_of(direct_text(700), ucs2_text(300)))
def test_smpplib_sar_parts_are_ours(smpplib: Any, text: str) -> None:
    theirs, coding, esm_class = smpplib.make_parts(text, use_udhi=False)
    assert esm_class == 0
    ucs2 = coding == smpp_consts.SMPP_ENCODING_ISO10646
    ours = submit_parts(text, "UCS-2" if ucs2 else "GSM", reference=0x4321, concat="sar")
    assert [part.short_message for part in ours] == theirs
    assert not any(part.esm_class_udhi for part in ours)


@SOME
@given(text=gsm_text(500))
def test_smpplib_gsm_parts_with_escapes_carry_our_septets(smpplib: Any, text: str) -> None:
    # smpplib cuts every 153 octets, through an escape if need be; we never separate one.
    theirs, coding, _ = smpplib.make_parts(text)
    assert coding == 0
    ours = submit_parts(text, "GSM", reference=theirs[0][3] if len(theirs) > 1 else 0)
    cut = 6 if len(theirs) > 1 else 0
    assert b"".join(part[cut:] for part in theirs) == b"".join(
        part.short_message[cut:] for part in ours
    )
    if len(theirs) == 1:
        assert [part.short_message for part in ours] == theirs
        assert decode_short_message(0, 0, theirs[0], {}).text == text


ASTRAL = st.characters(min_codepoint=0x1F300, max_codepoint=0x1F64F)


@SOME
@given(
    # 66 or 133 units first: smpplib's 67-unit parts end inside the pair that follows.
    before=st.one_of(st.sampled_from([66, 133]), st.integers(0, 140)),
    rest=st.text(st.one_of(NOT_GSM, ASTRAL, st.sampled_from(GSM_CHARS)), max_size=150),
)
def test_we_read_smpplib_ucs2_parts_even_where_they_split_a_surrogate_pair(
    smpplib: Any, before: int, rest: str
) -> None:
    text = "Ж" * before + "😀" + rest
    theirs, coding, esm_class = smpplib.make_parts(text)
    assert coding == 8
    assert read_parts(theirs, coding, esm_class)[0] == text


@SOME
@given(text=st.text(st.sampled_from([c for c in DIRECT_CHARS if ord(c) < 0x100]), max_size=140))
def test_smpplib_latin1_is_our_latin1_link(smpplib: Any, text: str) -> None:
    theirs, coding, _ = smpplib.make_parts(text, encoding=smpp_consts.SMPP_ENCODING_ISO88591)
    assert coding == 3
    (ours,) = submit_parts(text, "GSM", reference=0, default_alphabet="latin1")
    assert (ours.data_coding, [ours.short_message]) == (3, theirs)
    assert decode_short_message(3, 0, theirs[0], {}).text == text
    assert decode_short_message(0, 0, theirs[0], {}, default_alphabet="latin1").text == text


# --- gsm0338 ------------------------------------------------------------------------------

ALL_GSM = sorted(DEFAULT.costs())


@SOME
@given(text=texts(st.sampled_from(ALL_GSM), 600))
def test_gsm_short_messages_are_the_gsm0338_codecs_septets(text: str) -> None:
    seg = segment(text)
    for concat in ("udh", "sar"):
        parts = submit_parts(text, "GSM", reference=1, concat=concat)  # type: ignore[arg-type]
        cut = 6 if concat == "udh" and len(parts) > 1 else 0
        for part, counted in zip(parts, seg.parts, strict=True):
            body = part.short_message[cut:]
            assert body == counted.text.encode("gsm03.38")
            assert body.decode("gsm03.38") == counted.text
    (whole,) = submit_parts(text, "GSM", reference=1, concat="payload")
    assert whole.tlvs[0x0424] == text.encode("gsm03.38")


@SOME
@given(text=st.text(st.sampled_from(ALL_GSM), max_size=160))
def test_we_read_the_gsm0338_codecs_septets(text: str) -> None:
    assert decode_short_message(0, 0, text.encode("gsm03.38"), {}).text == text


# --- node-smpp ----------------------------------------------------------------------------

PEERS = Path(__file__).resolve().parent.parent / "peers"
NODE_SMPP = """
const { filters } = require('smpp/lib/defs.js');
const rl = require('readline').createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const req = JSON.parse(line);
  let out;
  try {
    const pdu = { data_coding: req.data_coding, esm_class: req.esm_class };
    if (req.op === 'decode') {
      const got = filters.message.decode.call(pdu, Buffer.from(req.hex, 'hex'));
      out = { text: got.message, udh: (got.udh || []).map((u) => u.toString('hex')) };
    } else {
      const value = req.udh ? { udh: Buffer.from(req.udh, 'hex'), message: req.text } : req.text;
      out = { hex: filters.message.encode.call(pdu, value).toString('hex'), esm: pdu.esm_class };
    }
  } catch (err) {
    out = { error: String(err) };
  }
  process.stdout.write(JSON.stringify(out) + '\\n');
});
"""


@pytest.fixture(scope="module")
def node_smpp() -> Iterator[Callable[..., dict[str, Any]]]:
    node = shutil.which("node")
    installed = (PEERS / "node_modules" / "smpp" / "lib" / "defs.js").is_file()
    need_peer(
        node is not None and installed, "smpp is not installed: npm install --prefix tests/peers"
    )
    process = subprocess.Popen(
        [node or "node", "-e", NODE_SMPP],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_PATH": str(PEERS / "node_modules")},
    )

    def ask(**request: Any) -> dict[str, Any]:
        assert process.stdin and process.stdout
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        answer: dict[str, Any] = json.loads(process.stdout.readline())
        assert "error" not in answer, answer
        return answer

    yield ask
    process.terminate()
    process.wait()


#: Turkish: its locking table, and the default extension table (which node-smpp's Turkish
#: single shift table holds too).
TURKISH_CHARS = sorted(Alphabet(1, 0).costs())


def elements(header: bytes) -> list[str]:
    found, at = [], 1
    while at < len(header):
        size = header[at + 1] + 2
        found.append(header[at : at + size].hex())
        at += size
    return found


@SOME
@given(
    text=st.one_of(
        gsm_text(500),
        ucs2_text(200),
        texts(st.sampled_from(TURKISH_CHARS), 400),
    ),
    reference=st.integers(0, 255),
)
def test_node_smpp_reads_our_parts(
    node_smpp: Callable[..., dict[str, Any]], text: str, reference: int
) -> None:
    seg = segment(text, languages=[1], reference=reference)
    # node-smpp reads a single shift element as if it named the locking table.
    assume(seg.alphabet is None or seg.alphabet.single == 0 or seg.alphabet.locking == 1)
    parts = submit_parts(text, seg.name, reference=reference)
    for part, counted in zip(parts, seg.parts, strict=True):
        esm_class = 0x40 if part.esm_class_udhi else 0
        got = node_smpp(
            op="decode",
            data_coding=part.data_coding,
            esm_class=esm_class,
            hex=part.short_message.hex(),
        )
        assert got["text"] == counted.text
        assert got["udh"] == (elements(counted.udh) if counted.udh else [])


@SOME
@given(text=st.one_of(gsm_text(500), ucs2_text(200)), reference=st.integers(0, 255))
def test_node_smpp_writes_our_bytes(
    node_smpp: Callable[..., dict[str, Any]], text: str, reference: int
) -> None:
    seg = segment(text, reference=reference)
    parts = submit_parts(text, seg.name, reference=reference)
    for part, counted in zip(parts, seg.parts, strict=True):
        got = node_smpp(
            op="encode",
            data_coding=part.data_coding,
            esm_class=0,
            text=counted.text,
            udh=counted.udh.hex(),
        )
        assert bytes.fromhex(got["hex"]) == part.short_message
        assert bool(got["esm"] & 0x40) == part.esm_class_udhi
