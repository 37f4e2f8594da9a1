"""RFC 9162 Merkle tree hashing and proofs, built from stored perfect subtrees and verified.

Pure functions, no IO. What each function implements:

- `leaf_hash`, `node_hash`, `EMPTY_ROOT`, `root_of`: the Merkle Tree Hash, RFC 9162 section 2.1.1.
- `leaf_hashes`, `parent_level`: the same two hashes over a whole run at once (for `verify`,
  which hashes every leaf and node of the log).
- `inclusion_ranges`, `inclusion_proof`: PATH(m, D[n]), section 2.1.3.1.
- `verify_inclusion`: the verification algorithm of section 2.1.3.2, step by step.
- `consistency_ranges`, `consistency_proof`: PROOF(m, D[n]) = SUBPROOF(m, D[n], true),
  section 2.1.4.1.
- `verify_consistency`: the verification algorithm of section 2.1.4.2, step by step.

Storage model. A caller stores the hash of every *perfect* subtree, keyed by `Node = (level,
index)`: the subtree over leaves ``[index << level, (index + 1) << level)``. Level 0 holds the leaf
hashes and ``(L + 1, i) = node_hash((L, 2i), (L, 2i + 1))``. A perfect subtree never changes once
its last leaf is appended, so the same map serves every tree size. Every hash the RFC's
recursions ask for is the MTH of a range ``[start, end)`` whose start is a multiple of the
smallest power of two >= its length; such a range splits into O(log n) maximal perfect subtrees
(`perfect_subtrees`) and its MTH is their right fold (`range_hash`), which is exactly the RFC's
split at the largest power of two smaller than the length. So a root or a proof reads O(log n)
stored nodes, and `nodes_needed` lists them so a database can fetch them in one query.

Edge cases, as RFC 9162 defines them:

- The empty tree's root is SHA-256 of the empty string (section 2.1.1); it has no leaves, so no
  inclusion proof exists for it.
- PROOF(m, D[n]) is defined for 0 < m < n only (section 2.1.4.1). Here m == n is accepted as
  the empty proof, verified by requiring equal roots. m == 0 is refused: RFC 9162 defines no
  consistency proof from the empty tree (every tree trivially extends it, so there is nothing
  to check).

Errors: proof *building* refuses bad arguments with `ValueError`; *verification* fails with
`ProofError` (a `ValueError`) whose message says what was expected and what was got.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

from domain.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Node",
    "ProofError",
    "consistency_proof",
    "consistency_ranges",
    "inclusion_proof",
    "inclusion_ranges",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "nodes_needed",
    "parent_level",
    "perfect_subtrees",
    "range_hash",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

# SHA-256 output size: RFC 9162 section 2.1.1 uses SHA-256 as the tree's hash algorithm.
HASH_SIZE = 32

# RFC 9162 section 2.1.1: domain separation prefixes for leaf and interior node hashes.
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Node: TypeAlias = tuple[int, int]
"""(level, index): the perfect subtree over leaves [index << level, (index + 1) << level)."""

Range: TypeAlias = tuple[int, int]
"""[start, end): a run of leaves whose MTH is a proof element."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d), RFC 9162 section 2.1.1."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The interior node hash SHA-256(0x01 || left || right), RFC 9162 section 2.1.1."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def leaf_hashes(leaves: Iterable[bytes]) -> list[bytes]:
    """`leaf_hash` of each leaf, in order (one loop, no call per leaf)."""
    sha256, prefix = hashlib.sha256, _LEAF_PREFIX
    return [sha256(prefix + data).digest() for data in leaves]


def parent_level(hashes: Sequence[bytes]) -> list[bytes]:
    """The level above a run of sibling subtrees: `node_hash` of each pair, left to right.

    ``hashes`` are consecutive perfect subtrees of one level whose first is a left child (an
    even index); an odd last one has no sibling yet and has no parent here.
    """
    sha256, prefix = hashlib.sha256, _NODE_PREFIX
    pairs = iter(hashes)  # zip(pairs, pairs) takes two at a time; an odd last one is left
    return [
        sha256(prefix + left + right).digest() for left, right in zip(pairs, pairs, strict=False)
    ]


# RFC 9162 section 2.1.1: "The hash of an empty list is the hash of an empty string".
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits D[n]."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) straight from the RFC 9162 section 2.1.1 recursion, over leaf hashes.

    O(n): the reference the stored-node functions are tested against, and handy for small trees.
    """
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def _check_range(start: int, end: int) -> None:
    if start < 0 or end < start:
        raise ValueError(f"expected a leaf range 0 <= start <= end, got [{start}, {end})")


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """Split [start, end) into maximal aligned perfect subtrees, left to right.

    Each step takes the largest power-of-two block that starts at `start`, is aligned to its own
    size, and fits before `end`. That gives at most 2 * log2(end - start) + 2 nodes.
    """
    _check_range(start, end)
    nodes: list[Node] = []
    while start < end:
        fits = (end - start).bit_length() - 1
        aligned = (start & -start).bit_length() - 1 if start else fits
        level = min(fits, aligned)
        nodes.append((level, start >> level))
        start += 1 << level
    return nodes


def _check_subtree_range(start: int, end: int) -> None:
    """Require the shape every RFC 9162 recursion produces: start aligned to bit_ceil(length)."""
    _check_range(start, end)
    length = end - start
    if length > 1:
        ceiling = 1 << (length - 1).bit_length()
        if start % ceiling:
            raise ValueError(
                f"expected [start, end) with start a multiple of {ceiling} (the smallest power "
                f"of two >= its {length} leaves, as in every RFC 9162 subtree), got "
                f"[{start}, {end})"
            )


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) as the right fold of the stored perfect subtrees covering the range.

    `start` must be a multiple of the smallest power of two >= end - start, which holds for
    [0, n) and for every range `inclusion_ranges` and `consistency_ranges` return: then the
    left-to-right maximal subtrees are exactly the RFC 9162 splits at the largest power of two
    smaller than the length, so folding them from the right is MTH. Other ranges raise
    `ValueError`. A missing node raises `KeyError` (the node).
    """
    _check_subtree_range(start, end)
    if start == end:
        return EMPTY_ROOT
    parts = perfect_subtrees(start, end)
    acc = nodes[parts[-1]]
    for part in reversed(parts[:-1]):
        acc = node_hash(nodes[part], acc)
    return acc


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose MTHs make PATH(index, D[size]), RFC 9162 section 2.1.3.1.

    In the RFC's order: the leaf's sibling first, the root's child last.
    """
    if not 0 <= index < size:
        raise ValueError(f"expected 0 <= index < size, got index {index} and size {size}")
    top_down: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n]) for m < k
            top_down.append((mid, end))
            end = mid
        else:
            # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k]) for m >= k
            top_down.append((start, mid))
            start = mid
    top_down.reverse()
    return top_down


def _check_sizes(old_size: int, new_size: int) -> None:
    if old_size == 0:
        raise ValueError(
            "old size 0: RFC 9162 section 2.1.4 defines consistency proofs only for "
            "0 < old size (every tree extends the empty tree; there is nothing to prove)"
        )
    if not 0 < old_size <= new_size:
        raise ValueError(
            f"expected 0 < old size <= new size, got old size {old_size} and new size {new_size}"
        )


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The ranges whose MTHs make PROOF(old_size, D[new_size]), RFC 9162 section 2.1.4.1.

    PROOF(m, D[n]) = SUBPROOF(m, D[n], true), in the RFC's order (deepest first). Requires
    0 < old_size <= new_size; old_size == new_size gives the empty proof.
    """
    _check_sizes(old_size, new_size)
    top_down: list[Range] = []
    start, end, complete = 0, new_size, True
    while old_size != end:
        mid = start + _split(end - start)
        if old_size <= mid:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n]) for m <= k
            top_down.append((mid, end))
            end = mid
        else:
            # SUBPROOF(m, D[n], b) = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k]) for m > k
            top_down.append((start, mid))
            start, complete = mid, False
    if not complete:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}; with b true it is {} (the verifier has it).
        top_down.append((start, end))
    top_down.reverse()
    return top_down


def nodes_needed(ranges: Iterable[Range]) -> set[Node]:
    """Every stored perfect subtree the MTHs of these ranges read."""
    needed: set[Node] = set()
    for start, end in ranges:
        needed.update(perfect_subtrees(start, end))
    return needed


def inclusion_proof(index: int, size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """PATH(index, D[size]) from stored perfect subtrees (see `inclusion_ranges`)."""
    return [range_hash(start, end, nodes) for start, end in inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, nodes: Mapping[Node, bytes]) -> list[bytes]:
    """PROOF(old_size, D[new_size]) from stored perfect subtrees (see `consistency_ranges`)."""
    return [range_hash(start, end, nodes) for start, end in consistency_ranges(old_size, new_size)]


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"expected a {HASH_SIZE}-byte {what}, got {len(value)} bytes")


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    for position, element in enumerate(proof):
        _check_hash(f"hash at proof[{position}]", element)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` is leaf `index` of the tree of `size` leaves with this `root`.

    RFC 9162 section 2.1.3.2, as written. `leaf` is the RFC's "hash": the leaf *hash*
    `leaf_hash(entry)`, not the entry itself. Returns None, or raises `ProofError`.
    """
    _check_hash("leaf hash", leaf)
    _check_hash("root hash", root)
    _check_proof_hashes(proof)
    if index < 0 or size < 0:
        raise ProofError(f"expected a non-negative index and size, got {index} and {size}")
    # 1. If leaf_index is greater than or equal to tree_size, then fail.
    if index >= size:
        raise ProofError(f"expected index < size, got index {index} and size {size}")
    # 2. Set fn to leaf_index and sn to tree_size - 1.
    fn, sn = index, size - 1
    # 3. Set r to hash.
    r = leaf
    # 4. For each value p in the inclusion_path array:
    for p in proof:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise _wrong_inclusion_length(index, size, proof)
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set r to HASH(0x01 || p || r).
            r = node_hash(p, r)
            # ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            #     LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # Otherwise: i. Set r to HASH(0x01 || r || p).
            r = node_hash(r, p)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the
    #    root_hash are equal, then the log has proven the inclusion of hash. Otherwise, fail.
    if sn != 0:
        raise _wrong_inclusion_length(index, size, proof)
    if r != root:
        raise ProofError(
            f"expected root {root.hex()}, got {r.hex()} from the inclusion proof for index "
            f"{index} in a tree of size {size}"
        )


def _wrong_inclusion_length(index: int, size: int, proof: Sequence[bytes]) -> ProofError:
    expected = len(inclusion_ranges(index, size))
    return ProofError(
        f"expected {expected} proof hashes for index {index} in a tree of size {size}, "
        f"got {len(proof)}"
    )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree (new_size, new_root) extends the tree (old_size, old_root).

    RFC 9162 section 2.1.4.2, as written, for 0 < old_size < new_size. When the sizes are equal
    the proof must be empty and the roots equal. old_size 0 is refused: RFC 9162 defines no
    consistency proof from the empty tree. Returns None, or raises `ProofError`.
    """
    _check_hash("old root hash", old_root)
    _check_hash("new root hash", new_root)
    _check_proof_hashes(proof)
    try:
        _check_sizes(old_size, new_size)
    except ValueError as error:
        raise ProofError(str(error)) from None
    if old_size == new_size:
        if proof:
            raise ProofError(f"expected an empty proof for equal sizes, got {len(proof)} hashes")
        if old_root != new_root:
            raise ProofError(
                f"expected the same root for both trees of size {old_size}, got "
                f"{old_root.hex()} and {new_root.hex()}"
            )
        return
    # 1. If consistency_path is an empty array, stop and fail the proof verification.
    if not proof:
        raise _wrong_consistency_length(old_size, new_size, proof)
    path = list(proof)
    # 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3. Set fn to first - 1 and sn to second - 1.
    fn, sn = old_size - 1, new_size - 1
    # 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. Set both fr and sr to the first value in the consistency_path array.
    fr = sr = path[0]
    # 6. For each subsequent value c in the consistency_path array:
    for c in path[1:]:
        # a. If sn is 0, then stop the iteration and fail the proof verification.
        if sn == 0:
            raise _wrong_consistency_length(old_size, new_size, proof)
        # b. If LSB(fn) is set, or if fn is equal to sn, then:
        if fn & 1 or fn == sn:
            # i. Set fr to HASH(0x01 || c || fr).  ii. Set sr to HASH(0x01 || c || sr).
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # iii. If LSB(fn) is not set, then right-shift both fn and sn equally until either
            #      LSB(fn) is set or fn is 0.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            # Otherwise: i. Set sr to HASH(0x01 || sr || c).
            sr = node_hash(sr, c)
        # c. Finally, right-shift both fn and sn one time.
        fn >>= 1
        sn >>= 1
    # 7. Verify that the fr calculated is equal to the first_hash supplied, that the sr
    #    calculated is equal to the second_hash supplied, and that sn is 0.
    if sn != 0:
        raise _wrong_consistency_length(old_size, new_size, proof)
    if fr != old_root:
        raise ProofError(
            f"expected old root {old_root.hex()}, got {fr.hex()} from the consistency proof "
            f"from size {old_size} to {new_size}"
        )
    if sr != new_root:
        raise ProofError(
            f"expected new root {new_root.hex()}, got {sr.hex()} from the consistency proof "
            f"from size {old_size} to {new_size}"
        )


def _wrong_consistency_length(old_size: int, new_size: int, proof: Sequence[bytes]) -> ProofError:
    expected = len(consistency_ranges(old_size, new_size))
    return ProofError(
        f"expected {expected} proof hashes for sizes {old_size} to {new_size}, got {len(proof)}"
    )
