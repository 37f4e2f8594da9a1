"""Private fields kept apart from the events: commitments, pseudonyms, and erasable openings.

The disclosure policy (`domain.disclosure`) names the fields of an event that describe a natural
person. Such a field is stored in the event, and so in its public leaf, only as a `Sealed`
value: a **commitment** and the **pseudonym** of the person it is about.

- ``commitment = "sha256:" + hex(SHA-256(TAG || 0x00 || event type || 0x00 || field || 0x00 ||
  opening || JCS(value)))``, with a fresh 32-byte random ``opening`` per field (`commit`). The
  commitment hides the value (the opening is random) and binds it (SHA-256 is collision
  resistant): whoever is shown the value and its opening checks them against the leaf, and
  nobody else learns anything from it.
- ``pseudonym = "ps:" + hex(HMAC-SHA256(key, TAG || 0x00 || identity))[:32]`` (`pseudonym`):
  stable per person, so public figures and the ledger's rules can tell requests of the same
  person apart from others', and unlinkable to the person without the ledger's pseudonym key.

The value and its opening are stored in the event store's database, beside the events and in
the same transaction, encrypted (AES-256-GCM, the commitment as associated data) under a key of
the person's own (``ledger_subjects``). Erasing a person deletes that key (crypto-shredding):
every value and opening of theirs becomes unreadable for good, while the commitments in the
events, and so every leaf, checkpoint and proof, stay exactly as they were.

Deleting a row is not erasing its bytes: a database keeps old row versions in its files until
they are overwritten. So an erasure is done in two steps (`erase_subject`, then
`scrub_erased`): in its transaction, the key is destroyed, the openings deleted, and the
opened values the views hold blanked, and the person is marked *scrub pending*; right after
the commit, the store's files are rid of the old bytes (SQLite: every connection runs with
``secure_delete``, so freed space is zeroed, and the write-ahead log is checkpointed and
truncated; PostgreSQL: the tables that held them are rewritten by ``VACUUM FULL``), and the
mark is cleared. A process that dies in between leaves the mark, and the next erasure or
``reliquary scrub`` does the second step again (it is safe to repeat).

`SealedRecords` is a mixin of the two event-store recorders, as `domain.requests` is; its
statements are written once with ``{p}`` for the placeholder.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.canonical import canonical_bytes
from domain.decisions import Sealed
from domain.errors import SubjectErased
from domain.requests import rows as _rows

COMMITMENT_TAG = b"reliquary/commitment/v1"
PSEUDONYM_TAG = b"reliquary/pseudonym/v1"
OPENING_BYTES = 32

PSEUDONYM = re.compile(r"ps:[0-9a-f]{32}")
"""A pseudonym's form."""

SUBJECTS_TABLE = "ledger_subjects"
OPENINGS_TABLE = "ledger_openings"
PSEUDONYM_KEY_TABLE = "ledger_pseudonym_key"

SCRUB_PENDING = ""
"""A subject's ``key`` once erased and until the store's files are scrubbed (then NULL)."""

ERASED_TEXT = "[erased]"
"""What a view shows in place of an erased person's value (`projections.runner.ERASED`)."""

OPENED_VIEW_COLUMNS: dict[str, tuple[str, ...]] = {
    "view_access_requests": ("requester", "organisation", "purpose", "scope", "reason", "terms"),
}
"""The views that store opened values, and their columns that hold them, per table.

Only the access register (`projections.registers.AccessView`, ``opens_sealed``) keeps values
opened, keyed by the person's pseudonym in its ``subject`` column. The erasure blanks them in
its own transaction, so no copy outlives the key even before the view reaches the
`SubjectErased` event (which blanks them the same way, again). `tests/integration/
test_erasure_physical.py` holds this table to the views that open sealed values.
"""


def commit(event_type: str, field: str, opening: bytes, value: str) -> str:
    """The commitment to one field's value under its opening (see the module's docstring)."""
    digest = hashlib.sha256()
    for part in (COMMITMENT_TAG, event_type.encode(), field.encode()):
        digest.update(part + b"\x00")
    digest.update(opening)
    digest.update(canonical_bytes(value))
    return "sha256:" + digest.hexdigest()


def opens(sealed: Sealed, event_type: str, field: str) -> bool:
    """Whether a sealed value's value and opening are the ones its commitment binds."""
    if sealed.value is None or sealed.opening is None:
        return False
    expected = commit(event_type, field, sealed.opening, sealed.value)
    return hmac.compare_digest(expected, sealed.commitment)


def pseudonym(key: bytes, identity: str) -> str:
    """The pseudonym of a person (by the identity the ledger knows them by)."""
    mac = hmac.new(key, PSEUDONYM_TAG + b"\x00" + identity.encode(), hashlib.sha256)
    return "ps:" + mac.hexdigest()[:32]


def seal(event_type: str, field: str, value: str, subject: str) -> Sealed:
    """A value sealed for storage: its commitment under a fresh opening, for its subject."""
    opening = secrets.token_bytes(OPENING_BYTES)
    return Sealed(commit(event_type, field, opening, value), subject, value, opening)


@dataclass(frozen=True)
class Opened:
    """What the store holds of one commitment: its value and opening, or that it was erased."""

    commitment: str
    value: str | None
    opening: bytes | None
    erased: bool


def subjects_table_statement(qualified: str) -> str:
    """One key per person (the same DDL on both backends).

    ``key`` is the hex of the person's key while they are active; an erased person keeps the
    row with `SCRUB_PENDING` until the store's files are scrubbed of their old bytes, then
    NULL.
    """
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified} (subject TEXT PRIMARY KEY, key TEXT, "
        "created_at TEXT NOT NULL, erased_at TEXT)"
    )


def openings_table_statement(qualified: str) -> str:
    """Each sealed value's opening and value, encrypted under its subject's key."""
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified} (commitment TEXT PRIMARY KEY, "
        "subject TEXT NOT NULL, nonce TEXT NOT NULL, ciphertext TEXT NOT NULL)"
    )


def openings_index_statement(qualified: str, name: str) -> str:
    """Openings by person: an erasure deletes a person's at once, without scanning them all."""
    return f"CREATE INDEX IF NOT EXISTS {name} ON {qualified} (subject)"


def pseudonym_key_table_statement(qualified: str) -> str:
    """The ledger's one pseudonym key."""
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified} (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "key TEXT NOT NULL)"
    )


@dataclass(frozen=True)
class Scrub:
    """What one scrub of the store's files did."""

    subjects: tuple[str, ...]
    """The erased subjects it found marked (cleared if ``complete``)."""
    complete: bool
    detail: str


class SealedRecords:
    """Store, open and erase sealed values, in the event store's database."""

    param: str
    subjects_table: str
    openings_table: str
    pseudonym_key_table: str
    datastore: Any
    _pseudonym_key: bytes | None = None

    def pseudonym_key(self) -> bytes:
        """The ledger's pseudonym key, made on first use (every process then reads the same)."""
        if self._pseudonym_key is None:
            p, table = self.param, self.pseudonym_key_table
            with self.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (id, key) VALUES (1, {p}) ON CONFLICT (id) DO NOTHING",
                    (secrets.token_hex(32),),
                )
                cursor.execute(f"SELECT key FROM {table} WHERE id = 1")
                self._pseudonym_key = bytes.fromhex(_rows(cursor)[0][0])
        return self._pseudonym_key

    def store_openings(self, cursor: Any, sealed: Sequence[Sealed]) -> None:
        """Encrypt and store the openings of a save's sealed values, in its transaction.

        Each subject gets a key the first time one of its values is sealed. A subject that
        was erased has no key: sealing a new value of theirs is refused (`SubjectErased`),
        and the save with it.
        """
        if not sealed:
            return
        p = self.param
        keys: dict[str, bytes] = {}
        now = datetime.now(UTC).isoformat()
        for subject in sorted({each.subject for each in sealed}):
            cursor.execute(
                f"INSERT INTO {self.subjects_table} (subject, key, created_at) "
                f"VALUES ({p}, {p}, {p}) ON CONFLICT (subject) DO NOTHING",
                (subject, secrets.token_hex(32), now),
            )
            cursor.execute(f"SELECT key FROM {self.subjects_table} WHERE subject = {p}", (subject,))
            keys[subject] = subject_key(subject, _rows(cursor)[0][0])
        for row in encrypted_openings(sealed, keys):
            cursor.execute(
                f"INSERT INTO {self.openings_table} (commitment, subject, nonce, ciphertext) "
                f"VALUES ({p}, {p}, {p}, {p})",
                row,
            )

    def read_openings(self, sealed: Iterable[Sealed]) -> dict[str, Opened]:
        """Open sealed values: each one's value and opening, or erased (its subject's key is
        gone), or absent (never stored here: an event restored without its openings)."""
        subjects = {each.commitment: each.subject for each in sealed}
        wanted = sorted(subjects)
        found: dict[str, Opened] = {}
        if not wanted:
            return found
        marks = ", ".join([self.param] * len(wanted))
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT o.commitment, o.nonce, o.ciphertext, s.key "
                f"FROM {self.openings_table} o JOIN {self.subjects_table} s "
                f"ON s.subject = o.subject WHERE o.commitment IN ({marks})",
                tuple(wanted),
            )
            rows = _rows(cursor)
        for commitment, nonce, ciphertext, key in rows:
            if not key:  # erased while this was read
                found[commitment] = Opened(commitment, None, None, erased=True)
                continue
            plaintext = AESGCM(bytes.fromhex(key)).decrypt(
                bytes.fromhex(nonce), bytes.fromhex(ciphertext), commitment.encode()
            )
            opening, value = plaintext[:OPENING_BYTES], plaintext[OPENING_BYTES:].decode("utf-8")
            found[commitment] = Opened(commitment, value, opening, erased=False)
        missing = {subjects[c] for c in wanted if c not in found}
        erased = {subject for subject in missing if self.subject_state(subject) == "erased"}
        for commitment in wanted:
            if commitment not in found and subjects[commitment] in erased:
                found[commitment] = Opened(commitment, None, None, erased=True)
        return found

    def erase_subject(self, cursor: Any, subject: str) -> int:
        """Destroy a subject's key, delete their encrypted openings and blank the values the
        views hold opened, in the transaction of the erasure's event; how many values were
        erased. The subject is left marked for `scrub_erased`, which the ledger runs after
        the commit."""
        p = self.param
        cursor.execute(
            f"UPDATE {self.subjects_table} SET key = {p}, erased_at = {p} WHERE subject = {p}",
            (SCRUB_PENDING, datetime.now(UTC).isoformat(), subject),
        )
        cursor.execute(
            f"SELECT COUNT(*) FROM {self.openings_table} WHERE subject = {p}", (subject,)
        )
        count = int(_rows(cursor)[0][0])
        cursor.execute(f"DELETE FROM {self.openings_table} WHERE subject = {p}", (subject,))
        for table, columns in OPENED_VIEW_COLUMNS.items():
            if not self.table_exists(cursor, table):
                continue  # a store whose views were never created holds no opened value
            blanked = ", ".join(
                f"{column} = CASE WHEN {column} IS NULL THEN NULL ELSE {p} END"
                for column in columns
            )
            cursor.execute(
                f"UPDATE {self.qualified(table)} SET {blanked} WHERE subject = {p}",
                (*[ERASED_TEXT] * len(columns), subject),
            )
        return count

    def scrub_pending(self) -> list[tuple[str, str]]:
        """The erased subjects whose old bytes may still be in the store's files, each with
        the moment of their (latest) erasure."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT subject, erased_at FROM {self.subjects_table} "
                f"WHERE key = {self.param} ORDER BY subject",
                (SCRUB_PENDING,),
            )
            return [(str(subject), str(erased_at)) for subject, erased_at in _rows(cursor)]

    def scrub_erased(self, *, force: bool = False) -> Scrub:
        """Rid the store's files of the old bytes of erased subjects (after their erasure).

        Runs if a subject is marked, or with ``force`` (the ledger forces it after each
        erasure; an operator may force it once on a store written before secure deletion).
        Once the files are clean it clears the marks it found, each only if no erasure of
        that subject came after it read them (that one scrubs again); if it could not
        finish it leaves them, and a later call does it again: every step may be repeated.
        """
        pending = self.scrub_pending()
        if not pending and not force:
            return Scrub(subjects=(), complete=True, detail="nothing to scrub")
        complete, detail = self.compact_erased_tables()
        if complete and pending:
            p = self.param
            with self.datastore.transaction(commit=True) as cursor:
                for subject, erased_at in pending:
                    cursor.execute(
                        f"UPDATE {self.subjects_table} SET key = NULL WHERE subject = {p} "
                        f"AND key = {p} AND erased_at = {p}",
                        (subject, SCRUB_PENDING, erased_at),
                    )
        return Scrub(
            subjects=tuple(subject for subject, _ in pending), complete=complete, detail=detail
        )

    def compact_erased_tables(self) -> tuple[bool, str]:
        """The backend's way of removing old row versions from its files (see the recorders):
        whether it finished, and what it did or what stopped it."""
        raise NotImplementedError

    def table_exists(self, cursor: Any, table: str) -> bool:
        """Whether a table of the store's own schema exists (see the recorders)."""
        raise NotImplementedError

    def qualified(self, table: str) -> str:
        """A table's name as this store's statements name it (schema-qualified on PostgreSQL)."""
        return table

    def subject_state(self, subject: str) -> str | None:
        """``active``, ``erased``, or None for a subject the store has never sealed for."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT key FROM {self.subjects_table} WHERE subject = {self.param}", (subject,)
            )
            rows = _rows(cursor)
        if not rows:
            return None
        return "active" if rows[0][0] else "erased"


def subject_key(subject: str, stored: str | None) -> bytes:
    """A subject's key as stored (hex), or `SubjectErased` if it is gone (NULL, or the scrub
    pending mark): nothing more is sealed for an erased subject."""
    if not stored:
        raise SubjectErased(
            f"subject {subject} was erased; nothing more is recorded about them",
            subject=subject,
        )
    return bytes.fromhex(stored)


def encrypted_openings(
    sealed: Iterable[Sealed], keys: dict[str, bytes]
) -> list[tuple[str, str, str, str]]:
    """The openings table's rows for sealed values: (commitment, subject, nonce, ciphertext),
    the opening and the value encrypted under the subject's key with AES-GCM, the commitment
    as associated data. Values sealed elsewhere (restored events) have nothing to store."""
    rows = []
    for each in sealed:
        if each.value is None or each.opening is None:
            continue
        nonce = os.urandom(12)
        plaintext = each.opening + each.value.encode("utf-8")
        ciphertext = AESGCM(keys[each.subject]).encrypt(nonce, plaintext, each.commitment.encode())
        rows.append((each.commitment, each.subject, nonce.hex(), ciphertext.hex()))
    return rows
