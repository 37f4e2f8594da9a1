"""Names mean one thing, and free text is visible: the character rules of the command contract.

A name (a model's name, an actor's id, every other id, a person, an organisation) is a key, so
it is stored in NFC and refused if it holds a character a reader cannot see, or letters of more
than one script beyond UTS #39's Highly Restrictive combinations. Free text is stored in NFC,
refused if it holds controls, separators or bidirectional overrides, and blank unless it holds a
visible character. See docs/commands.md, "Names and text".
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from api.cli.apply_file import LineRefused, apply_lines
from domain.commands import URI, Name, ShortText, Text, parse_command
from domain.errors import CommandRejected, ModelAlreadyRegistered
from domain.ledger import Ledger
from tests.support import doc, parse, register

NAME: TypeAdapter[str] = TypeAdapter(Name)
TEXT: TypeAdapter[str] = TypeAdapter(Text)
SHORT: TypeAdapter[str] = TypeAdapter(ShortText)
LINK: TypeAdapter[str] = TypeAdapter(URI)


def _refusal(document: dict[str, Any]) -> str:
    with pytest.raises(CommandRejected) as refused:
        parse_command(json.dumps(document))
    return str(refused.value)


def _names(char: str) -> str:
    """How a message names a character: its code point, and its name if it has one."""
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X} {name}" if name else f"U+{ord(char):04X}"


# --- characters refused in names --------------------------------------------------------------

REFUSED_IN_NAMES = {
    # invisible characters (category Cf, or default-ignorable)
    "\u200b": "an invisible character",  # ZERO WIDTH SPACE
    "\u200c": "an invisible character",  # ZERO WIDTH NON-JOINER
    "\u200d": "an invisible character",  # ZERO WIDTH JOINER: allowed in free text, not here
    "\u2060": "an invisible character",  # WORD JOINER
    "\ufeff": "an invisible character",  # ZERO WIDTH NO-BREAK SPACE (the BOM)
    "\u00ad": "an invisible character",  # SOFT HYPHEN
    "\ufe0f": "an invisible character",  # VARIATION SELECTOR-16
    "\u3164": "an invisible character",  # HANGUL FILLER (a letter, but default-ignorable)
    "\U000e0041": "an invisible character",  # TAG LATIN CAPITAL LETTER A
    # bidirectional controls: embeddings, overrides, isolates, marks
    **{chr(code): "bidirectional control" for code in range(0x202A, 0x202F)},
    **{chr(code): "bidirectional control" for code in range(0x2066, 0x206A)},
    "\u200e": "bidirectional control",  # LEFT-TO-RIGHT MARK
    "\u200f": "bidirectional control",  # RIGHT-TO-LEFT MARK
    "\u061c": "bidirectional control",  # ARABIC LETTER MARK
    # line and paragraph separators
    "\u2028": "a line or paragraph separator",
    "\u2029": "a line or paragraph separator",
    # C0 and C1 controls
    "\x00": "a control character",
    "\t": "a control character",
    "\n": "a control character",
    "\r": "a control character",
    "\x1b": "a control character",
    "\x7f": "a control character",
    "\x80": "a control character",
    "\x85": "a control character",  # NEXT LINE
    "\x9f": "a control character",
    # unassigned, private-use, noncharacters, surrogates
    "\u0378": "unassigned",
    "\ue000": "a private-use character",
    "\U000f0000": "a private-use character",
    "\ufdd0": "a noncharacter",
    "\ufffe": "a noncharacter",
    "\U0001ffff": "a noncharacter",
    # whitespace other than the plain space
    "\u00a0": "whitespace other than a plain space",  # NO-BREAK SPACE
    "\u3000": "whitespace other than a plain space",  # IDEOGRAPHIC SPACE
    "\u2009": "whitespace other than a plain space",  # THIN SPACE
    "\u202f": "whitespace other than a plain space",  # NARROW NO-BREAK SPACE
    "\u1680": "whitespace other than a plain space",  # OGHAM SPACE MARK
}


@pytest.mark.parametrize(
    ("char", "reason"), REFUSED_IN_NAMES.items(), ids=[f"U+{ord(c):04X}" for c in REFUSED_IN_NAMES]
)
def test_a_name_refuses_the_character_naming_it(char: str, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        NAME.validate_python(f"model{char}name")
    message = str(refused.value)
    assert f"contains {_names(char)}, " in message
    assert reason in message


def test_the_message_names_the_field_the_character_and_why() -> None:
    message = _refusal(register("cl\u200baude"))
    assert message == (
        "register_model: field 'model': contains U+200B ZERO WIDTH SPACE, an invisible character"
    )


@pytest.mark.parametrize(
    "where",
    ["actor.id", "family", "developer", "model_version"],
)
def test_every_name_field_has_the_rules(where: str) -> None:
    document = register("model-1")
    if where == "actor.id":
        document["actor"]["id"] = "c.ortiz\u202e"
    else:
        document[where] = "Example\u00a0Lab"
    assert f"field '{where}'" in _refusal(document)


def test_ids_in_other_commands_and_in_lists_have_the_rules() -> None:
    preference = doc(
        "record_preference",
        "model-1",
        role="interviewer",
        preference_id="pref-1",
        statement="It would like its weights kept.",
        theme="continuity",
        interview_ids=["iv-1", "iv\u200b-1"],
    )
    assert "field 'interview_ids.1': contains U+200B" in _refusal(preference)
    request = doc(
        "request_access",
        "model-1",
        role="researcher",
        request_id="req\u2028-1",
        requester="Dr. A",
        organisation="University",
        requester_group="academic",
        purpose="study",
        scope="API",
    )
    assert "field 'request_id': contains U+2028 LINE SEPARATOR" in _refusal(request)


@pytest.mark.parametrize("name", [" padded", "padded ", "", "   "])
def test_a_name_has_no_outer_space_and_is_not_empty(name: str) -> None:
    with pytest.raises(ValidationError):
        NAME.validate_python(name)


def test_a_name_may_hold_plain_spaces_inside() -> None:
    assert NAME.validate_python("Example Lab infrastructure team") == (
        "Example Lab infrastructure team"
    )


@pytest.mark.parametrize("adapter", [NAME, TEXT, SHORT])
def test_a_lone_surrogate_is_refused(adapter: TypeAdapter[str]) -> None:
    # UTF-8 cannot encode it, so no record could hold it (JSON input cannot even carry it).
    with pytest.raises(ValidationError):
        adapter.validate_python("model\ud800name")


# --- NFC --------------------------------------------------------------------------------------


def test_nfc_and_nfd_spellings_are_one_name() -> None:
    composed, decomposed = "caf\u00e9-model", "cafe\u0301-model"
    assert composed != decomposed
    assert NAME.validate_python(composed) == NAME.validate_python(decomposed) == composed
    assert parse(register(decomposed)).model == composed


def test_a_name_is_counted_in_nfc() -> None:
    decomposed = "e\u0301" * 200  # 400 code points, 200 once composed
    assert NAME.validate_python(decomposed) == "\u00e9" * 200
    with pytest.raises(ValidationError):
        NAME.validate_python("e\u0301" * 201)


def test_a_name_is_not_folded_by_compatibility_but_refused() -> None:
    # NFC, not NFKC: a ligature is never silently turned into "fi"; the name is refused.
    with pytest.raises(ValidationError, match="compatibility form of 'fi'"):
        NAME.validate_python("\ufb01ne-model")


# --- one script -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "claude-opus-3",
        "gpt-4o",
        "Example Lab",
        "Zoë Lab",  # Latin with a diacritic
        "Ngô Bảo Châu",  # Vietnamese: Latin, stacked marks
        "клод-2",  # Cyrillic alone
        "μοντέλο-β",  # Greek alone
        "クロード-3",  # Katakana
        "Claude 日本語版",  # Latin and Han
        "Claude ひらがな カタカナ 漢字",  # Latin, Hiragana, Katakana, Han: Japanese
        "注音ㄅㄆㄇ model",  # Latin, Han and Bopomofo
        "클로드 모델 v2",  # Hangul with Latin
        "모델 漢字 v2",  # Korean: Hangul and Han, with Latin
        "نموذج-٣",  # Arabic with an Arabic-Indic digit
        "מודל 3",  # Hebrew
    ],
)
def test_a_name_in_one_script_or_an_allowed_combination_is_accepted(name: str) -> None:
    assert NAME.validate_python(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize(
    ("name", "scripts"),
    [
        ("cl\u0430ude", ["Latin", "Cyrillic"]),  # a Cyrillic а among Latin letters
        ("\u0440aypal", ["Cyrillic", "Latin"]),  # "раypal": Cyrillic р and а
        ("gpt-4\u03bf", ["Latin", "Greek"]),  # a Greek omicron for o
        ("model-\u0663", ["Latin", "Arabic"]),  # an Arabic-Indic digit three
        ("クロード-\u0430", ["Katakana", "Cyrillic"]),
        ("모델-ひらがな", ["Hangul", "Hiragana"]),  # Korean and Japanese kana: no such writing
        ("Claude 漢字 \u0430", ["Latin", "Han", "Cyrillic"]),
    ],
)
def test_a_name_mixing_scripts_is_refused_naming_them(name: str, scripts: list[str]) -> None:
    with pytest.raises(ValidationError) as refused:
        NAME.validate_python(name)
    message = str(refused.value)
    assert "mixes scripts" in message
    for script in scripts:
        assert script in message


def test_latin_with_greek_is_refused() -> None:
    """The decision: Latin with Greek is refused, as any pair outside UTS #39's combinations.

    Greek letters look like Latin ones (ο, α, ν, β beside o, a, v, B), and "Highly Restrictive"
    allows no Latin+Greek name. So ``model_β`` is refused; ``model-beta`` or an all-Greek
    ``μοντέλο-β`` is how to write it.
    """
    with pytest.raises(ValidationError) as refused:
        NAME.validate_python("model_\u03b2")
    assert "U+03B2 GREEK SMALL LETTER BETA" in str(refused.value)
    assert NAME.validate_python("model-beta") == "model-beta"
    assert NAME.validate_python("μοντέλο-β") == "μοντέλο-β"


def test_a_mixed_script_register_is_refused_through_parse_command() -> None:
    message = _refusal(register("cl\u0430ude"))
    assert message.startswith("register_model: field 'model': mixes scripts")
    assert "U+0430 CYRILLIC SMALL LETTER A" in message


# --- free text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "blank",
    ["\u200b", "\u200b\u200c\u200d", "   \u3000 ", "\u00a0", "\ufe0f", "\u00ad", "\t\n", "\u3164"],
)
def test_text_of_only_invisible_characters_is_blank(blank: str) -> None:
    message = _refusal({**register("model-1"), "rationale": blank})
    assert "field 'rationale'" in message and "blank" in message


@pytest.mark.parametrize(
    ("char", "reason"),
    [
        ("\u202e", "a bidirectional control"),
        ("\u202a", "a bidirectional control"),
        ("\u2066", "a bidirectional control"),
        ("\u2069", "a bidirectional control"),
        ("\u2028", "a line or paragraph separator"),
        ("\u2029", "a line or paragraph separator"),
        ("\x00", "a control character"),
        ("\r", "a control character"),
        ("\x85", "a control character"),
        ("\x9b", "a control character"),
    ],
)
def test_free_text_refuses_the_character_naming_it(char: str, reason: str) -> None:
    for adapter in (TEXT, SHORT):
        with pytest.raises(ValidationError) as refused:
            adapter.validate_python(f"Reasons {char} here.")
        assert f"contains {_names(char)}, {reason}" in str(refused.value)


@pytest.mark.parametrize(
    "text",
    [
        "A rationale.\n\tWith a second, indented line.",
        "A woman technologist: \U0001f469\u200d\U0001f4bb.",  # ZWJ sequence
        "कार्य",  # Devanagari with a virama: no joiner, but marks
        "\u0645\u0631\u062d\u0628\u0627 \u200f123",  # Arabic with a right-to-left mark
        "Costs \u20ac 12\u202f000.",  # a narrow no-break space in prose
        "Wörd\u200bbreak hints stay in prose.",  # a zero-width space inside visible text
    ],
)
def test_free_text_keeps_joiners_marks_and_prose_spacing(text: str) -> None:
    assert TEXT.validate_python(text) == unicodedata.normalize("NFC", text)


def test_short_text_is_one_line() -> None:
    assert SHORT.validate_python("\U0001f469\u200d\U0001f4bb title") == (
        "\U0001f469\u200d\U0001f4bb title"
    )
    for bad in ("two\nlines", "tab\there", " padded", "padded\u3000"):
        with pytest.raises(ValidationError):
            SHORT.validate_python(bad)


def test_free_text_is_stored_in_nfc() -> None:
    command = parse({**register("model-1"), "rationale": "Re\u0301sume\u0301 of the decision."})
    assert command.rationale == "R\u00e9sum\u00e9 of the decision."


# --- URIs -------------------------------------------------------------------------------------


def test_a_uri_refuses_invisible_characters_and_is_kept_as_written() -> None:
    with pytest.raises(ValidationError) as refused:
        LINK.validate_python("https://example.org/\u200bevidence")
    assert "U+200B ZERO WIDTH SPACE" in str(refused.value)
    with pytest.raises(ValidationError):
        LINK.validate_python("https://example.org/\u202eevidence")
    decomposed = "https://example.org/cafe\u0301"
    assert LINK.validate_python(decomposed) == decomposed  # not normalized
    assert LINK.validate_python("https://例え.jp/証拠") == "https://例え.jp/証拠"


# --- through the ledger, on every backend ------------------------------------------------------


def test_a_look_alike_name_is_refused_and_appends_nothing(ledger: Ledger) -> None:
    ledger.execute(parse(register("claude")))
    head = ledger.recorder.max_notification_id()
    line = json.dumps(register("cl\u0430ude")).encode()
    with pytest.raises(LineRefused) as refused:
        apply_lines(ledger, [(1, line)])
    assert refused.value.applied == 0
    assert "mixes scripts" in refused.value.reason
    assert ledger.recorder.max_notification_id() == head
    assert ledger.model_names() == ["claude"]


def test_an_nfd_spelling_reaches_the_model_registered_in_nfc(ledger: Ledger) -> None:
    ledger.execute(parse(register("caf\u00e9-model")))
    ledger.execute(
        parse(
            doc(
                "schedule_retirement",
                "cafe\u0301-model",
                retirement_date="2025-06-01",
                reasons=["cost"],
            )
        )
    )
    assert ledger.version_of("caf\u00e9-model") == 2
    with pytest.raises(ModelAlreadyRegistered):
        ledger.execute(parse(register("cafe\u0301-model")))
    assert ledger.model_names() == ["caf\u00e9-model"]


def test_every_letter_python_knows_has_a_script_the_rule_knows() -> None:
    # Python's Unicode decides what is assigned; the script list must cover every letter, mark
    # and number of it, or such a character would be refused as "of no script".
    import regex  # type: ignore[import-untyped]

    from domain.text import SCRIPTS

    known = "".join(rf"\p{{Script_Extensions={script}}}" for script in SCRIPTS)
    covered = regex.compile(rf"[{known}\p{{scx=Common}}\p{{scx=Inherited}}]")
    letters = "".join(
        char for char in map(chr, range(0x110000)) if unicodedata.category(char)[0] in "LMN"
    )
    assert covered.sub("", letters) == ""


def test_a_door_normalizes_a_name_it_is_given_as_the_command_model_does() -> None:
    from domain.text import normalize_name

    assert normalize_name("cafe\u0301-model") == NAME.validate_python("cafe\u0301-model")
    with pytest.raises(ValueError, match="mixes scripts"):
        normalize_name("cl\u0430ude")


def test_a_model_id_is_the_same_for_every_spelling_of_its_name() -> None:
    from domain.identity import model_id

    composed, decomposed = "mod\u00e8le", "mode\u0300le"
    assert composed != decomposed
    assert model_id(composed) == model_id(decomposed)
    assert model_id("claude-opus-3") != model_id("claude-opus-4")


@pytest.mark.parametrize(
    "name",
    ["\uff43\uff4c\uff41\uff55\uff44\uff45", "\ufb01ne-tuned", "model\u00b2", "gpt\u2011\u2163"],
)
def test_a_name_written_in_compatibility_forms_is_refused(name: str) -> None:
    from domain.text import check_name

    with pytest.raises(ValueError, match="compatibility form"):
        check_name(name)


def test_names_in_plain_forms_of_other_scripts_stay_allowed() -> None:
    from domain.text import check_name

    for name in ("модель-3", "μοντέλο-β", "モデル-3", "caf\u00e9-model"):
        assert check_name(name) == name
