"""What a name and a piece of free text may hold: the character rules of the command contract.

A **name** (a model's name, an id, a person, an organisation) is a key: the ledger finds a
model by its name, and an auditor reads names to tell records apart. Two names that print
alike must therefore be the same name. So a name is stored in Unicode Normalization Form C
(NFC: an accented letter typed as one code point or as a letter and a combining accent is the
same name), and a name is refused if it holds a character a reader cannot see or that changes
how the rest is shown (controls, invisible and bidirectional formatting characters, line and
paragraph separators, whitespace other than the plain space, unassigned, private-use and
noncharacter code points), or if its letters come from more than one script beyond the
combinations of Unicode Technical Standard #39's "Highly Restrictive" level (one script, or
Latin with Han and Hiragana and Katakana, with Han and Bopomofo, or with Han and Hangul).

**Free text** (a rationale, a statement, a title) is read, not looked up: it is stored in NFC
too, may hold any visible character and the zero-width joiner that emoji and some scripts need,
and is refused if it holds control characters (but tab and newline in multi-line text), line or
paragraph separators, or the bidirectional embeddings, overrides and isolates that reorder what
a reader sees. It is blank unless it holds at least one visible character: a letter, mark,
number, punctuation or symbol that is not default-ignorable.

The character data is Python's `unicodedata` (its categories and normalization) and the `regex`
library's (scripts, script extensions, default-ignorable and noncharacter code points). Each
refusal is a `ValueError` whose message names the character by code point and name, e.g.
``contains U+200B ZERO WIDTH SPACE, an invisible character``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

import regex  # type: ignore[import-untyped]

UNICODE_VERSION = unicodedata.unidata_version
"""The Unicode version of the normalization and of "unassigned" (Python's `unicodedata`)."""

# Every script of Unicode 16, by its long name in PropertyValueAliases.txt, except Common and
# Inherited (which go with any script) and Unknown. The library holds which characters belong
# to each; this is only the list of names to ask it about.
_SCRIPT_NAMES = """
Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali
Bhaiksuki Bopomofo Brahmi Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian
Chakma Cham Cherokee Chorasmian Coptic Cuneiform Cypriot Cypro_Minoan Cyrillic Deseret
Devanagari Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Garay
Georgian Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi Gurmukhi Gurung_Khema Han
Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana Imperial_Aramaic Inscriptional_Pahlavi
Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kawi Kayah_Li Kharoshthi
Khitan_Small_Script Khmer Khojki Khudawadi Kirat_Rai Lao Latin Lepcha Limbu Linear_A Linear_B
Lisu Lycian Lydian Mahajani Makasar Malayalam Mandaic Manichaean Marchen Masaram_Gondi
Medefaidrin Meetei_Mayek Mende_Kikakui Meroitic_Cursive Meroitic_Hieroglyphs Miao Modi
Mongolian Mro Multani Myanmar Nabataean Nag_Mundari Nandinagari New_Tai_Lue Newa Nko Nushu
Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Ol_Onal Old_Hungarian Old_Italic Old_North_Arabian
Old_Permic Old_Persian Old_Sogdian Old_South_Arabian Old_Turkic Old_Uyghur Oriya Osage Osmanya
Pahawh_Hmong Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi Rejang Runic Samaritan
Saurashtra Sharada Shavian Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese
Sunuwar Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangsa Tangut
Telugu Thaana Thai Tibetan Tifinagh Tirhuta Todhri Toto Tulu_Tigalari Ugaritic Vai Vithkuqi
Wancho Warang_Citi Yezidi Yi Zanabazar_Square
"""
SCRIPTS = tuple(_SCRIPT_NAMES.split())

# UTS #39 section 5.1: Han, Hiragana, Katakana, Hangul and Bopomofo are written together, so a
# character of one of them also counts for the writing systems it is part of.
_JAPANESE, _KOREAN, _HAN_WITH_BOPOMOFO = "Japanese", "Korean", "Han with Bopomofo"
_AUGMENTED = {
    "Han": frozenset({_JAPANESE, _KOREAN, _HAN_WITH_BOPOMOFO}),
    "Hiragana": frozenset({_JAPANESE}),
    "Katakana": frozenset({_JAPANESE}),
    "Hangul": frozenset({_KOREAN}),
    "Bopomofo": frozenset({_HAN_WITH_BOPOMOFO}),
}
_WITH_LATIN = frozenset({_JAPANESE, _KOREAN, _HAN_WITH_BOPOMOFO})


def _script_patterns() -> dict[str, regex.Pattern[str]]:
    patterns = {}
    for script in SCRIPTS:
        try:
            patterns[script] = regex.compile(rf"\p{{Script_Extensions={script}}}")
        except regex.error:  # pragma: no cover - a `regex` older than the Unicode of the list
            continue
    return patterns


_SCRIPT_PATTERNS = _script_patterns()
_ANY_SCRIPT = regex.compile(r"[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]")
_DEFAULT_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
_NONCHARACTER = regex.compile(r"\p{Noncharacter_Code_Point}")
_BIDI_CONTROL = regex.compile(r"\p{Bidi_Control}")
# The embeddings, overrides and isolates (and their terminators): they reorder the text after
# them. The marks (LRM, RLM, ALM) only give a neutral character a direction.
_REORDERING = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})
_VISIBLE = regex.compile(
    r"[[\p{L}\p{M}\p{N}\p{P}\p{S}]--\p{Default_Ignorable_Code_Point}]", regex.V1
)


def describe(char: str) -> str:
    """A character as ``U+200B ZERO WIDTH SPACE`` (the code point alone if it has no name)."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


def nfc(value: str) -> str:
    """The NFC form of a text: the one spelling the ledger stores and compares."""
    return unicodedata.normalize("NFC", value)


# --- characters -------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _name_character_refusal(char: str) -> str | None:
    """Why a name cannot hold this character, or None if it can."""
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "a surrogate, which UTF-8 cannot encode"
    if _NONCHARACTER.match(char):
        return "a noncharacter"
    if category == "Cn":
        return f"a code point unassigned in Unicode {UNICODE_VERSION}"
    if category == "Co":
        return "a private-use character"
    if category in ("Zl", "Zp"):
        return "a line or paragraph separator"
    if _BIDI_CONTROL.match(char):
        return "an invisible bidirectional control, which can reorder what a reader sees"
    if category == "Cf" or _DEFAULT_IGNORABLE.match(char):
        return "an invisible character"
    if category == "Zs" and char != " ":
        return "whitespace other than a plain space"
    return None


@lru_cache(maxsize=4096)
def _text_character_refusal(char: str, multiline: bool) -> str | None:
    """Why free text cannot hold this character, or None if it can."""
    if char in "\t\n" and multiline:
        return None
    category = unicodedata.category(char)
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "a surrogate, which UTF-8 cannot encode"
    if category in ("Zl", "Zp"):
        return "a line or paragraph separator"
    if unicodedata.bidirectional(char) in _REORDERING:
        return "a bidirectional control, which reorders what a reader sees"
    return None


def _refuse_characters(value: str, refusal_of: Callable[[str], str | None]) -> None:
    for char in dict.fromkeys(value):  # each distinct character once, in order
        reason = refusal_of(char)
        if reason is not None:
            raise ValueError(f"contains {describe(char)}, {reason}")


# --- scripts ----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def scripts_of(char: str) -> frozenset[str] | None:
    """The scripts a character is written in (its Script_Extensions), None for any script.

    None for Common and Inherited characters (digits, most punctuation, combining marks that go
    with every script); an empty set for a character of no script this module knows.
    """
    if _ANY_SCRIPT.match(char):
        return None
    return frozenset(script for script, pattern in _SCRIPT_PATTERNS.items() if pattern.match(char))


def _augmented(scripts: frozenset[str]) -> frozenset[str]:
    extra = [_AUGMENTED[script] for script in scripts if script in _AUGMENTED]
    return scripts.union(*extra)


def _resolved(chars: list[tuple[str, frozenset[str]]]) -> frozenset[str] | None:
    """The scripts every character could be written in (None: any, as for no character)."""
    resolved: frozenset[str] | None = None
    for _, scripts in chars:
        augmented = _augmented(scripts)
        resolved = augmented if resolved is None else resolved & augmented
    return resolved


def mixed_scripts(value: str) -> str | None:
    """Why a name's letters mix scripts (UTS #39 section 5.2, Highly Restrictive), or None.

    Allowed: a single script (Common and Inherited characters going with any), or Latin with
    Han, Hiragana and Katakana (Japanese), with Han and Bopomofo, or with Han and Hangul
    (Korean). Everything else, Latin with Cyrillic or with Greek included, is refused.
    """
    if value.isascii():
        return None  # ASCII letters are all Latin
    chars = [(char, scripts) for char in value if (scripts := scripts_of(char)) is not None]
    for char, scripts in chars:
        if not scripts:
            return f"contains {describe(char)}, a letter of no script the ledger can check"
    resolved = _resolved(chars)
    if resolved is None or resolved:
        return None
    without_latin = _resolved([(char, s) for char, s in chars if "Latin" not in s])
    if without_latin is None or without_latin & _WITH_LATIN:
        return None
    return _mixed_message(chars)


def _label(scripts: frozenset[str]) -> str:
    return "/".join(sorted(script.replace("_", " ") for script in scripts))


def _mixed_message(chars: list[tuple[str, frozenset[str]]]) -> str:
    seen: dict[str, str] = {}  # script label -> first character of it
    for char, scripts in chars:
        seen.setdefault(_label(scripts), char)
    labels = list(seen)
    shown = ", ".join(f"{label} ({describe(seen[label])})" for label in labels[:3])
    more = f" and {len(labels) - 3} more" if len(labels) > 3 else ""
    return (
        f"mixes scripts: {shown}{more}; a name keeps to one script (Latin may go with Han and "
        "kana, with Han and Bopomofo, or with Han and Hangul), so that no two names print alike"
    )


# --- the rules --------------------------------------------------------------------------------


def _require_visible(value: str) -> None:
    if not _VISIBLE.search(value):
        raise ValueError("is blank: it has no visible character")


@lru_cache(maxsize=8192)
def check_name(value: str) -> str:
    """A name, already in NFC, if it is one; else `ValueError` naming the problem."""
    if not value:
        raise ValueError("is empty")
    if not (value.isascii() and value.isprintable()):
        _refuse_characters(value, _name_character_refusal)
    if value != value.strip(" "):
        raise ValueError("has leading or trailing whitespace")
    _require_visible(value)
    if not value.isascii():
        _refuse_compatibility_forms(value)
    mixed = mixed_scripts(value)
    if mixed is not None:
        raise ValueError(mixed)
    return value


def _refuse_compatibility_forms(value: str) -> None:
    # A compatibility character (fullwidth "ｃｌａｕｄｅ", the ligature "ﬁ", a superscript "²")
    # is another spelling of a plain one under NFKC, the identifier form of UAX #31: two
    # names that differ only so print alike and are one name to anyone reading them.
    for char in value:
        if unicodedata.normalize("NFKC", char) != char:
            plain = unicodedata.normalize("NFKC", char)
            raise ValueError(
                f"contains {describe(char)}, a compatibility form of {plain!r}; "
                f"write {plain!r} instead"
            )


def normalize_name(value: str) -> str:
    """A name given at any door as the ledger stores it (NFC), or `ValueError` naming why not.

    For a door that looks a model up by a name it was given (a path, an option): an NFD
    spelling then finds the model registered in NFC.
    """
    return check_name(nfc(value))


def check_text(value: str, *, multiline: bool) -> str:
    """Free text, already in NFC, if it may be recorded; else `ValueError` naming the problem.

    ``multiline`` allows tab and newline; single-line text (a title, a reason in a list) also
    may not begin or end with whitespace.
    """
    if not (value.isascii() and value.isprintable()):
        _refuse_characters(value, lambda char: _text_character_refusal(char, multiline))
    if not multiline and value != value.strip():
        raise ValueError("has leading or trailing whitespace")
    _require_visible(value)
    return value


def check_uri_characters(value: str) -> str:
    """A URI (or IRI) with no control, invisible or bidirectional character; else `ValueError`.

    A URI is compared as written, so it is not normalized; but a character a reader cannot see
    would make two references that print alike point to different places.
    """
    if not value.isascii():
        _refuse_characters(value, _uri_character_refusal)
    return value


@lru_cache(maxsize=4096)
def _uri_character_refusal(char: str) -> str | None:
    # As in a name, but a code point unassigned in Python's Unicode or of private use may be
    # part of an IRI; whitespace never reaches here (the URI pattern refuses it).
    if unicodedata.category(char) in ("Cn", "Co") and not _NONCHARACTER.match(char):
        return None
    return _name_character_refusal(char)
