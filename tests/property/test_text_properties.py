"""Properties of the character rules, for any text: refused, or NFC and clean, and idempotent.

For every string Hypothesis generates (any code point, with the troublesome ones drawn often),
parsing a name, a text or a short text either refuses it or yields a string in NFC that holds
no character the rule refuses; parsing that result again yields it unchanged; and a string and
its NFD spelling get the same outcome.
"""

from __future__ import annotations

import unicodedata

import regex  # type: ignore[import-untyped]
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from domain.commands import Name, ShortText, Text

NAME: TypeAdapter[str] = TypeAdapter(Name)
TEXT: TypeAdapter[str] = TypeAdapter(Text)
SHORT: TypeAdapter[str] = TypeAdapter(ShortText)

# Characters each rule is about, drawn often so that short strings meet them.
TROUBLE = (
    "\u200b\u200c\u200d\u2060\ufeff\u00ad\ufe0f\u034f\u3164"  # invisible
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # bidirectional
    "\u2028\u2029\x00\t\n\r\x1b\x7f\x80\x85\x9f"  # separators and controls
    "\u0378\ue000\ufdd0\uffff"  # unassigned, private use, noncharacters
    "\u00a0\u3000\u2009\u202f "  # spaces
    "\u0301\u0308e\u00e9a\u0430o\u03bf\u03b2\u65e5\u3072\u30ab\ud55c\u3105\u0663-_.0"  # scripts
)
TEXTS = st.text(
    alphabet=st.one_of(st.sampled_from(TROUBLE), st.characters(codec="utf-8")), max_size=12
)

REFUSED_IN_NAMES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_NEWER_VISIBLE = regex.compile(r"[\p{L}\p{M}\p{N}\p{P}\p{S}]")
REORDERING = {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}


def _outcome(adapter: TypeAdapter[str], value: str) -> str | None:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _name_is_clean(value: str) -> bool:
    return all(
        unicodedata.category(char) not in REFUSED_IN_NAMES
        and (unicodedata.category(char) != "Zs" or char == " ")
        for char in value
    )


def _text_is_clean(value: str, multiline: bool) -> bool:
    allowed = "\t\n" if multiline else ""
    return all(
        char in allowed
        or (
            unicodedata.category(char) not in {"Cc", "Cs", "Zl", "Zp"}
            and unicodedata.bidirectional(char) not in REORDERING
        )
        for char in value
    )


def _visible(value: str) -> bool:
    # A letter, mark, number, punctuation or symbol; a code point newer than Python's Unicode
    # is judged by the `regex` library's, as the rule judges it.
    return any(
        unicodedata.category(char)[0] in "LMNPS"
        or (unicodedata.category(char) == "Cn" and _NEWER_VISIBLE.match(char))
        for char in value
    )


@given(TEXTS)
@example("cl\u0430ude")
@example("cafe\u0301")
@example("\u200b")
def test_a_name_is_refused_or_nfc_clean_and_idempotent(value: str) -> None:
    parsed = _outcome(NAME, value)
    if parsed is None:
        return
    assert unicodedata.is_normalized("NFC", parsed)
    assert _name_is_clean(parsed), ascii(parsed)
    assert parsed == parsed.strip(" ") and _visible(parsed)
    assert NAME.validate_python(parsed) == parsed


@given(TEXTS)
@example("\u200b")
@example("A \u2067reordered\u2069 reason")
@example("\U0001f469\u200d\U0001f4bb")
def test_free_text_is_refused_or_nfc_clean_and_idempotent(value: str) -> None:
    for adapter, multiline in ((TEXT, True), (SHORT, False)):
        parsed = _outcome(adapter, value)
        if parsed is None:
            continue
        assert unicodedata.is_normalized("NFC", parsed)
        assert _text_is_clean(parsed, multiline), ascii(parsed)
        assert _visible(parsed)
        assert adapter.validate_python(parsed) == parsed


@given(TEXTS)
@example("caf\u00e9")
def test_nfc_and_nfd_spellings_get_the_same_outcome(value: str) -> None:
    decomposed = unicodedata.normalize("NFD", value)
    for adapter in (NAME, TEXT, SHORT):
        assert _outcome(adapter, value) == _outcome(adapter, decomposed)
