"""Round trips and tamper detection for signed notes, checkpoints and tlog-proofs.

- format then parse gives back the same value, and parse then format gives back the same text
  (sigstore once shipped a checkpoint `to_text` that did not round-trip);
- a note signed by us opens with our verifier key, and any flipped bit in its text or its
  signature, or a signature by another key, makes it fail.
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from domain.errors import MalformedError, VerificationError
from projections.translog.checkpoint import (
    Checkpoint,
    format_tlog_proof,
    generate_signing_key,
    open_note,
    parse_tlog_proof,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
)

SIGNING_KEY = generate_signing_key("reliquary.example/log")
VERIFIER = verifier_key(SIGNING_KEY)
OTHER_SIGNING_KEY = generate_signing_key("reliquary.example/log")
SIGNATURE_LINE_PREFIX = "\n\n\u2014 "

# A signed note may hold any UTF-8 text but ASCII control characters other than newline.
line_chars = st.characters(codec="utf-8", min_codepoint=0x20)
lines = st.text(line_chars, min_size=1, max_size=40)
note_texts = st.lists(st.text(line_chars, max_size=30), min_size=1, max_size=6).map(
    lambda parts: "".join(part + "\n" for part in parts)
)
checkpoints = st.builds(
    Checkpoint,
    origin=lines,
    size=st.integers(0, 2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(lines, max_size=3).map(tuple),
)

# Lines that are sometimes right and often subtly wrong, for parse-then-format.
size_lines = st.one_of(
    st.integers(0, 2**64 + 5).map(str),
    st.sampled_from(["", "007", "+5", " 5", "5 ", "-1", "\u0665", "1_000", "0x10", "1e3"]),
)
root_lines = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=0, max_size=40).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()[:-2] + "9="),
    st.binary(min_size=32, max_size=32).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.text(max_size=50),
)


@st.composite
def checkpoint_texts(draw: st.DrawFn) -> str:
    """Text shaped like a checkpoint body, valid or not."""
    any_line = lines | st.text(max_size=20)
    parts = [draw(any_line), draw(size_lines), draw(root_lines)]
    parts += draw(st.lists(any_line, max_size=3))
    return "\n".join(parts) + draw(st.sampled_from(["\n", "\n", "\n", "", "\n\n"]))


def flip_bit(data: bytes, bit: int) -> bytes:
    """`data` with one bit flipped."""
    buffer = bytearray(data)
    buffer[bit // 8 % len(buffer)] ^= 1 << (bit % 8)
    return bytes(buffer)


# --- checkpoints -------------------------------------------------------------------------------


@given(checkpoints)
def test_format_then_parse_gives_the_same_checkpoint(checkpoint: Checkpoint) -> None:
    assert Checkpoint.parse(checkpoint.body()) == checkpoint


def parse_or_refusal(text: str) -> Checkpoint | str:
    """The parsed checkpoint, or the refusal's message."""
    try:
        return Checkpoint.parse(text)
    except MalformedError as error:
        return str(error)


@given(checkpoint_texts())
def test_parse_then_format_gives_the_same_text_or_a_named_refusal(text: str) -> None:
    parsed = parse_or_refusal(text)
    event("parsed" if isinstance(parsed, Checkpoint) else "refused")
    if isinstance(parsed, Checkpoint):
        assert parsed.body() == text
    else:
        assert parsed.startswith("malformed checkpoint: ")


@given(checkpoints)
def test_a_signed_checkpoint_verifies_to_itself(checkpoint: Checkpoint) -> None:
    note = sign_checkpoint(checkpoint, SIGNING_KEY)
    assert verify_checkpoint(note, VERIFIER, origin=checkpoint.origin) == checkpoint


# --- signed notes ------------------------------------------------------------------------------


@given(note_texts)
def test_sign_then_open_gives_the_text_back(text: str) -> None:
    assert open_note(sign_note(text, SIGNING_KEY), VERIFIER) == text


@given(note_texts, st.data())
def test_a_flipped_bit_in_the_text_fails(text: str, data: st.DataObject) -> None:
    note = sign_note(text, SIGNING_KEY)
    raw = note.encode("utf-8")
    bit = data.draw(st.integers(0, len(text.encode("utf-8")) * 8 - 1), label="bit")
    tampered = flip_bit(raw, bit).decode("utf-8", errors="surrogateescape")
    with pytest.raises(VerificationError):
        open_note(tampered, VERIFIER)


@given(note_texts, st.data())
def test_a_flipped_bit_in_the_signature_fails(text: str, data: st.DataObject) -> None:
    note = sign_note(text, SIGNING_KEY)
    head, _, encoded = note.rstrip("\n").rpartition(" ")
    signature = base64.b64decode(encoded)
    bit = data.draw(st.integers(0, len(signature) * 8 - 1), label="bit")
    tampered = f"{head} {base64.b64encode(flip_bit(signature, bit)).decode()}\n"
    # Key ID bits make the line someone else's (ignored, so unsigned); signature bits fail.
    reason = "expected a signature by" if bit < 32 else "does not verify"
    with pytest.raises(VerificationError, match=reason):
        open_note(tampered, VERIFIER)


@given(note_texts)
def test_a_signature_by_another_key_with_the_same_name_fails(text: str) -> None:
    note = sign_note(text, OTHER_SIGNING_KEY)
    with pytest.raises(
        VerificationError, match=r"expected a signature by reliquary\.example/log\+"
    ):
        open_note(note, VERIFIER)


@given(note_texts)
def test_cosigned_notes_open_with_either_key(text: str) -> None:
    # A second signature line by another key is ignored by our verifier, and vice versa.
    ours = sign_note(text, SIGNING_KEY)
    theirs = sign_note(text, OTHER_SIGNING_KEY)
    both = ours + theirs[theirs.rindex(SIGNATURE_LINE_PREFIX) + 2 :]
    assert open_note(both, VERIFIER) == text
    assert open_note(both, verifier_key(OTHER_SIGNING_KEY)) == text


# --- tlog-proof ------------------------------------------------------------------------------


@given(
    st.integers(0, 2**64 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=64),
    checkpoints,
    st.none() | st.binary(max_size=64),
)
def test_tlog_proof_round_trips(
    index: int, hashes: list[bytes], checkpoint: Checkpoint, extra: bytes | None
) -> None:
    note = sign_checkpoint(checkpoint, SIGNING_KEY)
    text = format_tlog_proof(index, hashes, note, extra)
    parsed = parse_tlog_proof(text)
    assert parsed == (index, hashes, note, extra)
    assert format_tlog_proof(*parsed[:3], parsed[3]) == text
    assert verify_checkpoint(parsed[2], VERIFIER) == checkpoint
