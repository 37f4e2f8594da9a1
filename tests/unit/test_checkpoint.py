"""Signed notes, checkpoints and tlog-proofs against the Go and C2SP examples, and refusals.

Vectors:
- golang.org/x/mod/sumdb/note: the PeterNeumann signer and verifier keys and signed note in the
  package documentation (note.go, example_test.go ExampleSign/ExampleOpen, note_test.go TestSign),
  and the EnochRoot key of ExampleSign_add_signatures, generated there from an all-zero random
  source (so its seed is 32 zero bytes); its verifier key and signature line are in note_test.go
  TestOpen. The malformed notes are TestOpen's `badMsgs`; the key manglings are TestNewVerifier's
  and TestNewSigner's.
- c2sp.org/tlog-checkpoint: the example checkpoint in the spec's introduction.
- c2sp.org/tlog-proof: the example proof in the spec's introduction (its signatures are elided
  with "[...]", so only its layout can be checked).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import MalformedError, VerificationError
from projections.translog.checkpoint import (
    MAX_SIGNATURES,
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

PETER_SIGNING_KEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_SIGNING_KEY = (
    "PRIVATE+KEY+EnochRoot+af0cfe78+" + base64.b64encode(b"\x01" + bytes(32)).decode()
)
ENOCH_VERIFIER = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)

# c2sp.org/tlog-checkpoint, the introduction's example.
C2SP_CHECKPOINT_TEXT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
C2SP_CHECKPOINT_NOTE = (
    C2SP_CHECKPOINT_TEXT + "\n\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZn"
    "iMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)

# c2sp.org/tlog-proof, the introduction's example (signatures elided by the spec).
C2SP_PROOF_HASHES = [
    "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=",
    "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=",
    "EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=",
    "RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=",
    "AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=",
]
C2SP_PROOF_CHECKPOINT = (
    "example.com/fancylog\n"
    "109482\n"
    "sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n"
    "\n"
    "\u2014 example.com/fancylog hI2DJw[...]1roloI=\n"
    "\u2014 witness1.example mJirIklj[...]qY9v2B/5bg==\n"
    "\u2014 witness2.example TnKKVHLX[...]xwYwrSjgow==\n"
    "\u2014 witness3.example S4X82uH5[...]3oEcROGLFQ==\n"
)
C2SP_PROOF = (
    "c2sp.org/tlog-proof@v1\n"
    "extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
    "index 73894\n"
    + "".join(line + "\n" for line in C2SP_PROOF_HASHES)
    + "\n"
    + C2SP_PROOF_CHECKPOINT
)

ROOT = bytes(range(32))


# --- the Go note package's vectors ---------------------------------------------------------------


def test_signing_matches_the_go_note_package_byte_for_byte() -> None:
    # Ed25519 is deterministic, so our signature must be the documented one.
    assert sign_note(TEXT, PETER_SIGNING_KEY) == TEXT + "\n" + PETER_SIG
    assert verifier_key(PETER_SIGNING_KEY) == PETER_VERIFIER
    assert open_note(TEXT + "\n" + PETER_SIG, PETER_VERIFIER) == TEXT


def test_the_enoch_root_key_from_a_zero_seed_matches_go() -> None:
    assert verifier_key(ENOCH_SIGNING_KEY) == ENOCH_VERIFIER
    assert sign_note(TEXT, ENOCH_SIGNING_KEY) == TEXT + "\n" + ENOCH_SIG


def test_a_doubly_signed_note_opens_with_either_key() -> None:
    # ExampleSign_add_signatures: Peter's signature, then Enoch's.
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, PETER_VERIFIER) == TEXT
    assert open_note(note, ENOCH_VERIFIER) == TEXT


def test_a_note_signed_only_by_other_keys_is_refused() -> None:
    with pytest.raises(
        VerificationError,
        match=r"expected a signature by EnochRoot\+af0cfe78, got only PeterNeumann\+c74f20a3",
    ):
        open_note(TEXT + "\n" + PETER_SIG, ENOCH_VERIFIER)


def test_a_bad_signature_by_the_known_key_rejects_the_whole_note() -> None:
    # note_test.go TestOpen "Invalid signature": four base64 characters inserted.
    tampered = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(VerificationError, match=r"expected a valid Ed25519 signature by Peter"):
        open_note(TEXT + "\n" + tampered, PETER_VERIFIER)
    # Even next to a good one: a known key's failed signature rejects the note.
    with pytest.raises(VerificationError, match=r"does not verify"):
        open_note(TEXT + "\n" + PETER_SIG + tampered, PETER_VERIFIER)


def test_a_garbled_signature_by_an_unknown_key_is_ignored() -> None:
    # note_test.go TestOpen: duplicated verified and unverified (and garbled) signatures.
    garbled = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + garbled
    assert open_note(note, PETER_VERIFIER) == TEXT


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (TEXT, "no blank line"),
        (TEXT + "\n", "no signature lines"),
        (TEXT + "\n" + PETER_SIG[:-1], "does not end in a newline"),
        ("\x01" + TEXT + "\n" + PETER_SIG, "control character U\\+0001"),
        ("\udcff" + TEXT + "\n" + PETER_SIG, "not valid UTF-8"),
        (TEXT + "\n" + "\u2014 Bad Name" + PETER_SIG[14:-1] + "\n", "not base64"),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "signature line 2 does not start"),
        (TEXT + "\n" + "\u2014 PeterNeumann\n", "signature line 1 has 0 bytes"),
        (TEXT + "\n" + "\u2014 PeterNeumann AAAAAA==\n", "has 4 bytes"),
        (TEXT + "\n" + "\u2014 a+b " + PETER_SIG[-90:], "contains '\\+'"),
        (TEXT + "\n" + "- PeterNeumann" + PETER_SIG[14:], "em dash"),
    ],
)
def test_malformed_notes_are_refused_naming_the_reason(note: str, reason: str) -> None:
    # note_test.go TestOpen's badMsgs, and a few more; "\xff" becomes a lone surrogate in a str.
    with pytest.raises(MalformedError, match=rf"^malformed note: .*{reason}"):
        open_note(note, PETER_VERIFIER)


def test_too_many_signatures_are_refused_but_sixteen_are_accepted() -> None:
    # c2sp.org/signed-note: verifiers MUST accept at least 16; Go refuses more than 100.
    stranger = sign_note(TEXT, generate_signing_key("stranger")).split("\n\n")[1]
    assert open_note(TEXT + "\n" + stranger * 15 + PETER_SIG, PETER_VERIFIER) == TEXT
    with pytest.raises(MalformedError, match=rf"expected at most {MAX_SIGNATURES} signatures"):
        open_note(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), PETER_VERIFIER)


def test_signatures_sharing_only_a_name_or_only_a_key_id_are_ignored() -> None:
    # A different key under Peter's name: its key ID differs, so it is someone else's.
    impostor = generate_signing_key("PeterNeumann")
    forged = sign_note(TEXT, impostor)
    with pytest.raises(VerificationError, match=r"expected a signature by PeterNeumann\+c74f20a3"):
        open_note(forged, PETER_VERIFIER)
    # Peter's key ID under another name is also unknown, and ignored next to a good signature.
    renamed = PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    assert open_note(TEXT + "\n" + renamed + PETER_SIG, PETER_VERIFIER) == TEXT
    with pytest.raises(VerificationError, match=r"got only CarmenSandiego\+c74f20a3"):
        open_note(TEXT + "\n" + renamed, PETER_VERIFIER)


def test_sign_note_refuses_text_a_note_cannot_carry() -> None:
    with pytest.raises(MalformedError, match=r"end with a newline"):
        sign_note("no newline", PETER_SIGNING_KEY)
    with pytest.raises(MalformedError, match=r"control character U\+0009"):
        sign_note("tab\there\n", PETER_SIGNING_KEY)


def test_the_text_may_contain_empty_lines() -> None:
    # c2sp.org/signed-note: the text is separated from the signatures by the *last* empty line.
    text = "first\n\nthird\n\n"
    assert open_note(sign_note(text, PETER_SIGNING_KEY), PETER_VERIFIER) == text


# --- keys --------------------------------------------------------------------------------------


def test_generated_keys_have_go_s_shape_and_work() -> None:
    signing_key = generate_signing_key("reliquary.example/log")
    shape = r"PRIVATE\+KEY\+reliquary\.example/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}"
    assert re.fullmatch(shape, signing_key)
    verifier = verifier_key(signing_key)
    assert verifier.split("+")[:2] == signing_key.split("+")[2:4]
    assert open_note(sign_note("hello\n", signing_key), verifier) == "hello\n"
    assert generate_signing_key("reliquary.example/log") != signing_key


@pytest.mark.parametrize(
    "name", ["", "two words", "a+b", "tab\tname", "nbsp\u00a0name", "ls\u2028"]
)
def test_key_names_follow_the_spec(name: str) -> None:
    # c2sp.org/signed-note: non-empty, no Unicode spaces, no plus.
    with pytest.raises(ValueError, match=r"expected a key name"):
        generate_signing_key(name)


def refusal(call: Callable[..., object], *arguments: Any) -> bool:
    """Whether `call(*arguments[:-1])` raises `MalformedError` starting with `arguments[-1]`."""
    *args, prefix = arguments
    try:
        call(*args)
    except MalformedError as error:
        return str(error).startswith(prefix)
    return False


def test_every_mangled_verifier_key_is_refused() -> None:
    # note_test.go TestNewVerifier: every proper substring, and every byte incremented.
    key = PETER_VERIFIER
    manglings = {key[i:j] for i in range(len(key)) for j in range(i + 1, len(key) + 1)}
    manglings.discard(key)
    manglings.update(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key)))
    # Wrong key length and unknown algorithm, each with an adjusted key ID.
    manglings.add("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    manglings.add("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    prefix = "malformed verifier key: "
    assert [
        m for m in manglings if not refusal(open_note, TEXT + "\n" + PETER_SIG, m, prefix)
    ] == []


def test_every_mangled_signing_key_is_refused() -> None:
    # note_test.go TestNewSigner: every proper substring, and every byte incremented.
    key = PETER_SIGNING_KEY
    manglings = {key[i:j] for i in range(len(key)) for j in range(i + 1, len(key) + 1)}
    manglings.discard(key)
    manglings.update(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key)))
    assert [m for m in manglings if not refusal(verifier_key, m, "malformed signing key: ")] == []


def test_key_errors_say_what_was_expected() -> None:
    expected = r"expected key ID c74f20a3 for this name and key, got c74f20a4"
    with pytest.raises(MalformedError, match=expected):
        open_note(TEXT, PETER_VERIFIER.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(MalformedError, match=r"expected it to start with 'PRIVATE\+KEY\+'"):
        verifier_key(PETER_VERIFIER)


# --- checkpoints -----------------------------------------------------------------------------


def test_checkpoint_body_is_the_c2sp_note_text() -> None:
    checkpoint = Checkpoint("example.com/log", 5, ROOT)
    assert checkpoint.body() == (
        "example.com/log\n5\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    )
    with_extensions = Checkpoint("example.com/log", 0, ROOT, ("ext one", "ext two"))
    assert with_extensions.body().endswith("=\next one\next two\n")


def test_the_c2sp_example_checkpoint_parses() -> None:
    checkpoint = Checkpoint.parse(C2SP_CHECKPOINT_TEXT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == C2SP_CHECKPOINT_TEXT
    # We do not hold that log's key: its signature is from an unknown key, so it is ignored.
    with pytest.raises(VerificationError, match=r"got only example.com/behind-the-sofa\+033de0ae"):
        verify_checkpoint(C2SP_CHECKPOINT_NOTE, PETER_VERIFIER)


def test_sign_and_verify_a_checkpoint() -> None:
    # The log's key is named after its origin, as tlog-checkpoint recommends.
    signing_key = generate_signing_key("reliquary.example/log")
    checkpoint = Checkpoint("reliquary.example/log", 1234, ROOT)
    note = sign_checkpoint(checkpoint, signing_key)
    verifier = verifier_key(signing_key)
    assert verify_checkpoint(note, verifier) == checkpoint
    assert verify_checkpoint(note, verifier, origin="reliquary.example/log") == checkpoint
    with pytest.raises(
        VerificationError, match=r"expected origin 'other.example', got 'reliquary.example/log'"
    ):
        verify_checkpoint(note, verifier, origin="other.example")
    with pytest.raises(VerificationError, match=r"expected a signature by"):
        verify_checkpoint(note, verifier_key(generate_signing_key("reliquary.example/log")))


def test_a_signed_note_that_is_not_a_checkpoint_is_malformed() -> None:
    with pytest.raises(MalformedError, match=r"^malformed checkpoint: expected at least 3 lines"):
        verify_checkpoint(sign_note(TEXT, PETER_SIGNING_KEY), PETER_VERIFIER)


GOOD_ROOT = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "end with a newline"),
        ("example.com/log\n5\n" + GOOD_ROOT, "end with a newline"),
        ("example.com/log\n", "expected at least 3 lines .* got 1"),
        ("example.com/log\n5\n", "expected at least 3 lines .* got 2"),
        ("\n5\n" + GOOD_ROOT + "\n", "origin is empty"),
        ("example.com/log\n\n" + GOOD_ROOT + "\n", "tree size as ASCII decimal .* got ''"),
        ("example.com/log\nfive\n" + GOOD_ROOT + "\n", "tree size .* got 'five'"),
        ("example.com/log\n12a\n" + GOOD_ROOT + "\n", "got '12a'"),
        ("example.com/log\n007\n" + GOOD_ROOT + "\n", "without leading zeros, got '007'"),
        ("example.com/log\n+5\n" + GOOD_ROOT + "\n", "got '\\+5'"),
        ("example.com/log\n-1\n" + GOOD_ROOT + "\n", "got '-1'"),
        ("example.com/log\n 5\n" + GOOD_ROOT + "\n", "got ' 5'"),
        ("example.com/log\n\u0665\n" + GOOD_ROOT + "\n", "tree size"),
        ("example.com/log\n18446744073709551616\n" + GOOD_ROOT + "\n", "does not fit in 64 bits"),
        ("example.com/log\n5\nnot base64!\n", "root hash is not base64"),
        ("example.com/log\n5\n" + GOOD_ROOT[:-1] + "\n", "root hash is not base64"),
        ("example.com/log\n5\n" + GOOD_ROOT[:-2] + "9=\n", "root hash is not canonical base64"),
        ("example.com/log\n5\n" + base64.b64encode(bytes(31)).decode() + "\n", "got 31 bytes"),
        ("example.com/log\n5\n" + base64.b64encode(bytes(33)).decode() + "\n", "got 33 bytes"),
        ("example.com/log\n5\n" + GOOD_ROOT + "\n\n", "extension line 1 is empty"),
        ("example.com/log\n5\n" + GOOD_ROOT + "\nok\n\n", "extension line 2 is empty"),
        ("example\tcom\n5\n" + GOOD_ROOT + "\n", "origin contains the control character U\\+0009"),
    ],
)
def test_malformed_checkpoints_are_refused_naming_the_reason(body: str, reason: str) -> None:
    with pytest.raises(MalformedError, match=rf"^malformed checkpoint: .*{reason}"):
        Checkpoint.parse(body)


def test_checkpoint_fields_are_checked_on_construction() -> None:
    with pytest.raises(MalformedError, match=r"^malformed checkpoint: origin is empty"):
        Checkpoint("", 1, ROOT)
    with pytest.raises(MalformedError, match=r"origin contains a newline"):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(MalformedError, match=r"expected 0 <= size < 2\*\*64, got -1"):
        Checkpoint("log", -1, ROOT)
    with pytest.raises(MalformedError, match=r"expected an int size, got True"):
        Checkpoint("log", True, ROOT)
    with pytest.raises(MalformedError, match=r"expected a 32-byte root hash, got 31"):
        Checkpoint("log", 1, ROOT[:31])
    with pytest.raises(MalformedError, match=r"extension line 1 is empty"):
        Checkpoint("log", 1, ROOT, ("",))
    assert isinstance(MalformedError("x"), ValueError)


def test_origins_may_hold_any_printable_text() -> None:
    # tlog-checkpoint only recommends a schema-less URL; clients must not assume one. Lines end
    # at U+000A only, so a Unicode line separator stays inside the origin.
    checkpoint = Checkpoint("Log with spaces+plus\u2028\u2014", 7, ROOT)
    assert Checkpoint.parse(checkpoint.body()) == checkpoint


# --- tlog-proof ------------------------------------------------------------------------------


def test_the_c2sp_example_proof_parses_and_formats_back() -> None:
    index, hashes, signed_checkpoint, extra = parse_tlog_proof(C2SP_PROOF)
    assert index == 73894
    assert hashes == [base64.b64decode(line) for line in C2SP_PROOF_HASHES]
    assert signed_checkpoint == C2SP_PROOF_CHECKPOINT
    assert extra == base64.b64decode("YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ")
    assert format_tlog_proof(index, hashes, signed_checkpoint, extra) == C2SP_PROOF


def test_a_tlog_proof_carries_a_verifiable_inclusion_proof() -> None:
    from projections.translog.merkle import leaf_hash, node_hash, verify_inclusion

    # A two-leaf log: the proof for leaf 1 is leaf 0's hash.
    leaves = [leaf_hash(b"first"), leaf_hash(b"second")]
    signing_key = generate_signing_key("reliquary.example/log")
    note = sign_checkpoint(Checkpoint("reliquary.example/log", 2, node_hash(*leaves)), signing_key)
    text = format_tlog_proof(1, [leaves[0]], note)
    assert text.startswith("c2sp.org/tlog-proof@v1\nindex 1\n")
    index, hashes, signed_checkpoint, extra = parse_tlog_proof(text)
    assert extra is None
    checkpoint = verify_checkpoint(signed_checkpoint, verifier_key(signing_key))
    verify_inclusion(leaves[1], index, checkpoint.size, hashes, checkpoint.root_hash)


def test_a_tlog_proof_without_hashes_or_with_empty_extra() -> None:
    note = sign_checkpoint(Checkpoint("log", 1, ROOT), PETER_SIGNING_KEY)
    assert format_tlog_proof(0, [], note) == "c2sp.org/tlog-proof@v1\nindex 0\n\n" + note
    assert parse_tlog_proof(format_tlog_proof(0, [], note)) == (0, [], note, None)
    assert parse_tlog_proof(format_tlog_proof(0, [], note, b"")) == (0, [], note, b"")


HASH_LINE = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("c2sp.org/tlog-proof@v1\nindex 0\n", "no empty line"),
        (
            "c2sp.org/tlog-proof@v2\nindex 0\n",
            "expected first line .* got 'c2sp.org/tlog-proof@v2'",
        ),
        ("wrong-header\nindex 0\n\ncheckpoint\n", "expected first line .* got 'wrong-header'"),
        ("c2sp.org/tlog-proof@v1\n\n\ncheckpoint\n", "expected an 'index <n>' line, got 'nothing'"),
        ("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\ncp\n", "extra data is not base64"),
        ("c2sp.org/tlog-proof@v1\nextra AA==\n\ncp\n", "expected an 'index <n>' line"),
        ("c2sp.org/tlog-proof@v1\nindex notanumber\n\ncp\n", "index as ASCII decimal"),
        ("c2sp.org/tlog-proof@v1\nindex -5\n\ncp\n", "got '-5'"),
        ("c2sp.org/tlog-proof@v1\nindex 05\n\ncp\n", "got '05'"),
        ("c2sp.org/tlog-proof@v1\nindex 0\n!!notbase64!!\n\ncp\n", "proof hash 0 is not base64"),
        (
            "c2sp.org/tlog-proof@v1\nindex 0\n" + HASH_LINE + "\nAAAA\n\ncp\n",
            "got 3 bytes for proof hash 1",
        ),
        ("c2sp.org/tlog-proof@v1\nindex 0\n\n", "expected a signed checkpoint note"),
        ("c2sp.org/tlog-proof@v1\nindex 0\n\ncheckpoint", "expected a signed checkpoint note"),
    ],
)
def test_malformed_tlog_proofs_are_refused_naming_the_reason(text: str, reason: str) -> None:
    # Cases after transparency-dev/merkle proof/tlog_proof_test.go TestVerifyTLogProofErrors.
    with pytest.raises(MalformedError, match=rf"^malformed tlog-proof: .*{reason}"):
        parse_tlog_proof(text)


def test_format_tlog_proof_refuses_what_it_cannot_write() -> None:
    note = sign_checkpoint(Checkpoint("log", 1, ROOT), PETER_SIGNING_KEY)
    with pytest.raises(ValueError, match=r"expected 0 <= index < 2\*\*64, got -1"):
        format_tlog_proof(-1, [], note)
    with pytest.raises(ValueError, match=r"got 1.0"):
        format_tlog_proof(1.0, [], note)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expected 32-byte proof hashes, got 31 bytes"):
        format_tlog_proof(0, [bytes(31)], note)
    with pytest.raises(ValueError, match=r"ends with a newline"):
        format_tlog_proof(0, [], note.rstrip("\n"))
