"""Every proof built from stored subtrees verifies, and every tampered proof fails.

Trees of up to a few thousand leaves are built incrementally, as the log stores them. The
proofs are checked against an independent reference: the RFC 9162 section 2.1.3.1 (PATH) and
2.1.4.1 (SUBPROOF) recursions written out over the leaf list.

A note on "changed size". The section 2.1.3.2 and 2.1.4.2 algorithms use the tree sizes only to
decide, at each step, whether a proof hash goes left or right. Sizes whose proofs have the same
shape (length and left/right pattern) therefore verify the same hashes: index 0 of a 5-leaf
tree and index 0 of an 8-leaf tree both hash to the right three times. That is inherent to the
RFC, and harmless because a checkpoint signs the size and the root together. The properties
below say exactly that: a changed size fails unless its proof has the same shape, and the
probes the Go reference implementation uses (size * 2, size // 2, old size +- 1, ...) always
change the shape.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from domain.errors import ProofError
from projections.translog.merkle import (
    HASH_SIZE,
    Node,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 3000
Range = tuple[int, int]


@lru_cache(maxsize=4)
def tree(size: int) -> tuple[tuple[bytes, ...], dict[Node, bytes]]:
    """The leaf hashes and the stored node map of a `size`-leaf tree, built leaf by leaf."""
    leaves = tuple(leaf_hash(b"event %d" % i) for i in range(size))
    nodes: dict[Node, bytes] = {}
    for index, digest in enumerate(leaves):
        nodes[(0, index)] = digest
        level, position = 0, index
        while position & 1:
            left, right = nodes[(level, position - 1)], nodes[(level, position)]
            nodes[(level + 1, position >> 1)] = node_hash(left, right)
            level += 1
            position >>= 1
    return leaves, nodes


def split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, lo: int, hi: int) -> list[Range]:
    """PATH(m, D[lo:hi]) as ranges, straight from RFC 9162 section 2.1.3.1."""
    if hi - lo == 1:
        return []
    k = split(hi - lo)
    if m < lo + k:
        return [*ref_path(m, lo, lo + k), (lo + k, hi)]
    return [*ref_path(m, lo + k, hi), (lo, lo + k)]


def ref_subproof(m: int, lo: int, hi: int, complete: bool) -> list[Range]:
    """SUBPROOF(m, D[lo:hi], b) as ranges, straight from RFC 9162 section 2.1.4.1."""
    if m == hi:
        return [] if complete else [(lo, hi)]
    k = split(hi - lo)
    if m <= lo + k:
        return [*ref_subproof(m, lo, lo + k, complete), (lo + k, hi)]
    return [*ref_subproof(m, lo + k, hi, False), (lo, lo + k)]


def inclusion_shape(index: int, size: int) -> tuple[bool, ...]:
    """For each proof hash: does it go on the left?"""
    return tuple(end <= index for _, end in ref_path(index, 0, size))


def consistency_shape(old: int, new: int) -> tuple[bool, tuple[bool, ...]]:
    """Whether the old root is prepended, and for each later hash: does it go on the left?"""
    ranges = ref_subproof(old, 0, new, True)
    prepended = old & (old - 1) == 0
    if prepended:
        ranges = [(0, old), *ranges]
    first_start = ranges[0][0]
    return prepended, tuple(end <= first_start for _, end in ranges[1:])


def verifies(verify: Callable[..., None], *arguments: Any) -> bool:
    """Whether verification passes; only `ProofError` counts as failing."""
    try:
        verify(*arguments)
    except ProofError:
        return False
    return True


def flip_bit(data: bytes, bit: int) -> bytes:
    """`data` with one bit flipped."""
    buffer = bytearray(data)
    buffer[bit // 8 % len(buffer)] ^= 1 << (bit % 8)
    return bytes(buffer)


@st.composite
def leaf_in_tree(draw: st.DrawFn) -> tuple[int, int]:
    """(index, size) with 0 <= index < size <= MAX_SIZE."""
    size = draw(st.integers(1, MAX_SIZE))
    return draw(st.integers(0, size - 1)), size


def other_size(near: int) -> st.SearchStrategy[int]:
    """Any size, or one near `near` (where proofs most often keep their shape)."""
    return st.one_of(
        st.integers(1, 2 * MAX_SIZE),
        st.integers(-64, 64).map(lambda offset: max(1, near + offset)),
        st.integers(0, 12).map(lambda bits: max(1, (near | ((1 << bits) - 1)) + 1)),
    )


@st.composite
def two_sizes(draw: st.DrawFn, distinct: bool = False) -> tuple[int, int]:
    """(old, new) with 0 < old <= new <= MAX_SIZE (old < new if `distinct`)."""
    new = draw(st.integers(1 + distinct, MAX_SIZE))
    return draw(st.integers(1, new - distinct)), new


# --- honest proofs --------------------------------------------------------------------------


@given(leaf_in_tree())
def test_every_inclusion_proof_matches_the_rfc_recursion_and_verifies(
    case: tuple[int, int],
) -> None:
    index, size = case
    leaves, nodes = tree(size)
    root = range_hash(0, size, nodes)
    assert root == root_of(leaves)
    proof = inclusion_proof(index, size, nodes)
    assert proof == [root_of(leaves[start:end]) for start, end in ref_path(index, 0, size)]
    verify_inclusion(leaves[index], index, size, proof, root)


@given(two_sizes())
def test_every_consistency_proof_matches_the_rfc_recursion_and_verifies(
    case: tuple[int, int],
) -> None:
    old, new = case
    leaves, nodes = tree(new)
    old_root, new_root = range_hash(0, old, nodes), range_hash(0, new, nodes)
    assert old_root == root_of(leaves[:old])
    proof = consistency_proof(old, new, nodes)
    expected = [root_of(leaves[start:end]) for start, end in ref_subproof(old, 0, new, True)]
    assert proof == expected
    verify_consistency(old, new, old_root, new_root, proof)


# --- tampered inclusion proofs ----------------------------------------------------------------


@given(leaf_in_tree(), st.data())
def test_a_flipped_bit_anywhere_fails_inclusion(case: tuple[int, int], data: st.DataObject) -> None:
    index, size = case
    leaves, nodes = tree(size)
    leaf, root = leaves[index], range_hash(0, size, nodes)
    proof = inclusion_proof(index, size, nodes)
    bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1), label="bit")
    assert not verifies(verify_inclusion, flip_bit(leaf, bit), index, size, proof, root)
    assert not verifies(verify_inclusion, leaf, index, size, proof, flip_bit(root, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="element")
        tampered = [*proof[:at], flip_bit(proof[at], bit), *proof[at + 1 :]]
        assert not verifies(verify_inclusion, leaf, index, size, tampered, root)
    index_bit = data.draw(st.integers(0, 12), label="index bit")
    assert not verifies(verify_inclusion, leaf, index ^ (1 << index_bit), size, proof, root)


@given(leaf_in_tree(), st.data())
def test_an_extra_or_missing_proof_hash_fails_inclusion(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    leaves, nodes = tree(size)
    leaf, root = leaves[index], range_hash(0, size, nodes)
    proof = inclusion_proof(index, size, nodes)
    at = data.draw(st.integers(0, len(proof)), label="position")
    extra = data.draw(st.sampled_from([root, leaf, *proof]), label="extra hash")
    longer = [*proof[:at], extra, *proof[at:]]
    assert not verifies(verify_inclusion, leaf, index, size, longer, root)
    if proof:
        gone = data.draw(st.integers(0, len(proof) - 1), label="removed")
        shorter = [*proof[:gone], *proof[gone + 1 :]]
        assert not verifies(verify_inclusion, leaf, index, size, shorter, root)


@given(leaf_in_tree(), st.data())
def test_a_changed_size_fails_inclusion_unless_the_proof_shape_is_the_same(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    changed = data.draw(other_size(size), label="changed size")
    changed = changed if changed != size else size + 1
    leaves, nodes = tree(size)
    leaf, root = leaves[index], range_hash(0, size, nodes)
    proof = inclusion_proof(index, size, nodes)
    same_shape = index < changed and inclusion_shape(index, changed) == inclusion_shape(index, size)
    event(f"same shape: {same_shape}")
    assert verifies(verify_inclusion, leaf, index, changed, proof, root) == same_shape
    for probe in (size * 2, size // 2):
        assert not verifies(verify_inclusion, leaf, index, probe, proof, root)


# --- tampered consistency proofs --------------------------------------------------------------


@given(two_sizes(), st.data())
def test_a_flipped_bit_anywhere_fails_consistency(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case
    _, nodes = tree(new)
    old_root, new_root = range_hash(0, old, nodes), range_hash(0, new, nodes)
    proof = consistency_proof(old, new, nodes)
    bit = data.draw(st.integers(0, HASH_SIZE * 8 - 1), label="bit")
    assert not verifies(verify_consistency, old, new, flip_bit(old_root, bit), new_root, proof)
    assert not verifies(verify_consistency, old, new, old_root, flip_bit(new_root, bit), proof)
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1), label="element")
        tampered = [*proof[:at], flip_bit(proof[at], bit), *proof[at + 1 :]]
        assert not verifies(verify_consistency, old, new, old_root, new_root, tampered)


@given(two_sizes(), st.data())
def test_an_extra_or_missing_proof_hash_fails_consistency(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case
    _, nodes = tree(new)
    old_root, new_root = range_hash(0, old, nodes), range_hash(0, new, nodes)
    proof = consistency_proof(old, new, nodes)
    at = data.draw(st.integers(0, len(proof)), label="position")
    extra = data.draw(st.sampled_from([old_root, new_root, *proof]), label="extra hash")
    longer = [*proof[:at], extra, *proof[at:]]
    assert not verifies(verify_consistency, old, new, old_root, new_root, longer)
    if proof:
        gone = data.draw(st.integers(0, len(proof) - 1), label="removed")
        shorter = [*proof[:gone], *proof[gone + 1 :]]
        assert not verifies(verify_consistency, old, new, old_root, new_root, shorter)


@given(two_sizes(distinct=True), st.data())
def test_changed_sizes_fail_consistency_unless_the_proof_shape_is_the_same(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case  # distinct: equal sizes have no proof hashes to give a shape
    other_old = data.draw(other_size(old), label="changed old size")
    other_new = data.draw(other_size(new), label="changed new size")
    _, nodes = tree(new)
    old_root, new_root = range_hash(0, old, nodes), range_hash(0, new, nodes)
    proof = consistency_proof(old, new, nodes)
    shape = consistency_shape(old, new)
    for probe_old, probe_new in [
        (other_old, new),
        (old, other_new),
        (min(other_old, other_new), max(other_old, other_new)),
    ]:
        if (probe_old, probe_new) == (old, new) or probe_old == probe_new:
            continue
        same_shape = probe_old <= probe_new and consistency_shape(probe_old, probe_new) == shape
        event(f"same shape: {same_shape}")
        got = verifies(verify_consistency, probe_old, probe_new, old_root, new_root, proof)
        assert got == same_shape, (probe_old, probe_new)
    # The probes of transparency-dev/merkle's corruptConsistencyProof never keep the shape.
    for probe_old, probe_new in [
        (old - 1, new),
        (old + 1, new),
        (old ^ 2, new),
        (old, new * 2),
        (old, new // 2),
    ]:
        assert not verifies(verify_consistency, probe_old, probe_new, old_root, new_root, proof)
