"""RFC 9162 Merkle hashing and proofs against the reference test vectors, plus edge cases.

Vectors come from transparency-dev/merkle (the Go reference implementation of RFC 6962/9162
hashing used by Trillian and Tessera): `rfc6962/rfc6962_test.go` (leaf, node and empty hashes)
and `proof/verify_test.go` (the 8-leaf tree: its leaves, the roots of every prefix, and known
inclusion and consistency proofs). That file numbers inclusion-proof leaves from 1; the indices
below are converted to the 0-based indices RFC 9162 uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import ProofError
from projections.translog.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    nodes_needed,
    perfect_subtrees,
    range_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle proof/verify_test.go: `leaves`, `roots`.
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [  # ROOTS[n - 1] is the root of the first n leaves
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]


def h(hex_digest: str) -> bytes:
    """A 32-byte hash from hex."""
    digest = bytes.fromhex(hex_digest)
    assert len(digest) == HASH_SIZE
    return digest


# transparency-dev/merkle proof/verify_test.go: `inclusionProofs` as (0-based index, size, path).
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# transparency-dev/merkle proof/verify_test.go: `consistencyProofs` as (old size, new size, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# transparency-dev/merkle proof/verify_test.go: `sha256SomeHash`.
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def append_leaf(nodes: dict[Node, bytes], index: int, digest: bytes) -> None:
    """Store leaf `index` and every perfect subtree it completes, as the log does."""
    nodes[(0, index)] = digest
    level = 0
    while index & 1:
        nodes[(level + 1, index >> 1)] = node_hash(nodes[(level, index - 1)], nodes[(level, index)])
        level += 1
        index >>= 1


def build(leaf_hashes: list[bytes]) -> dict[Node, bytes]:
    """The stored node map of a tree with these leaves."""
    nodes: dict[Node, bytes] = {}
    for index, digest in enumerate(leaf_hashes):
        append_leaf(nodes, index, digest)
    return nodes


LEAF_HASHES = [leaf_hash(leaf) for leaf in LEAVES]
NODES = build(LEAF_HASHES)


# --- hashing -------------------------------------------------------------------------------


def test_hashes_match_the_reference_hasher() -> None:
    # transparency-dev/merkle rfc6962/rfc6962_test.go, TestRFC6962Hasher.
    assert EMPTY_ROOT.hex() == ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    left, right = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(left, right) != leaf_hash(left + right)
    assert node_hash(left, right) != node_hash(right, left)


@pytest.mark.parametrize("size", range(1, 9))
def test_the_root_of_every_prefix_of_the_reference_tree(size: int) -> None:
    assert root_of(LEAF_HASHES[:size]) == ROOTS[size - 1]
    assert range_hash(0, size, NODES) == ROOTS[size - 1]


def test_the_reference_eight_leaf_root() -> None:
    assert root_of(LEAF_HASHES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


def test_the_empty_tree() -> None:
    assert root_of([]) == EMPTY_ROOT
    assert range_hash(0, 0, {}) == EMPTY_ROOT


def test_range_hash_of_stored_subtrees_equals_the_rfc_recursion_for_sizes_0_to_70() -> None:
    leaves = [leaf_hash(i.to_bytes(2, "big")) for i in range(70)]
    nodes = build(leaves)
    for size in range(71):
        assert range_hash(0, size, nodes) == root_of(leaves[:size]), size


def test_a_growing_tree_keeps_every_old_root() -> None:
    # Perfect subtrees never change once complete, so one map serves every earlier size.
    leaves = [leaf_hash(bytes([i])) for i in range(33)]
    nodes: dict[Node, bytes] = {}
    for index, digest in enumerate(leaves):
        append_leaf(nodes, index, digest)
        for size in range(index + 2):
            assert range_hash(0, size, nodes) == root_of(leaves[:size])


# --- perfect subtrees and ranges ---------------------------------------------------------------


def test_perfect_subtrees_cover_the_range_left_to_right_with_aligned_blocks() -> None:
    for start in range(40):
        for end in range(start, 80):
            covered = start
            for level, index in perfect_subtrees(start, end):
                assert index << level == covered
                covered = (index + 1) << level
            assert covered == end


def test_perfect_subtrees_of_a_tree_are_one_per_set_bit_of_its_size() -> None:
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(0, 8) == [(3, 0)]
    assert perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_subtrees(6, 13) == [(1, 3), (2, 2), (0, 12)]


def test_range_hash_refuses_ranges_the_rfc_never_splits_off() -> None:
    # [1, 4) is not a subtree: MTH(D[1:4]) splits at 2, but the stored blocks are [1], [2, 4).
    with pytest.raises(ValueError, match=r"multiple of 4"):
        range_hash(1, 4, NODES)
    with pytest.raises(ValueError, match=r"0 <= start <= end"):
        range_hash(5, 4, NODES)


def test_range_hash_raises_key_error_for_a_missing_node() -> None:
    with pytest.raises(KeyError):
        range_hash(0, 9, NODES)


def test_inclusion_ranges_are_in_rfc_order() -> None:
    # RFC 6962 section 2.1.3's 7-leaf example: the audit paths for d0, d3, d4 and d6 are
    # [b, h, l], [c, g, l], [f, j, k] and [i, k].
    assert inclusion_ranges(0, 7) == [(1, 2), (2, 4), (4, 7)]
    assert inclusion_ranges(3, 7) == [(2, 3), (0, 2), (4, 7)]
    assert inclusion_ranges(4, 7) == [(5, 6), (6, 7), (0, 4)]
    assert inclusion_ranges(6, 7) == [(4, 6), (0, 4)]
    assert inclusion_ranges(0, 1) == []


def test_consistency_ranges_are_in_rfc_order() -> None:
    # The same example: PROOF(3, D[7]) = [c, d, g, l], PROOF(4, D[7]) = [l],
    # PROOF(6, D[7]) = [i, j, k].
    assert consistency_ranges(3, 7) == [(2, 3), (3, 4), (0, 2), (4, 7)]
    assert consistency_ranges(4, 7) == [(4, 7)]
    assert consistency_ranges(6, 7) == [(4, 6), (6, 7), (0, 4)]
    assert consistency_ranges(5, 5) == []


def test_proof_builders_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"expected 0 <= index < size, got index 3 and size 3"):
        inclusion_ranges(3, 3)
    with pytest.raises(ValueError, match=r"index -1"):
        inclusion_ranges(-1, 3)
    with pytest.raises(ValueError, match=r"size 0"):
        inclusion_ranges(0, 0)
    with pytest.raises(ValueError, match=r"old size 0: RFC 9162 section 2.1.4 defines"):
        consistency_ranges(0, 5)
    with pytest.raises(ValueError, match=r"expected 0 < old size <= new size, got old size 6"):
        consistency_ranges(6, 5)


# --- reference proofs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_inclusion_proofs_match_the_reference(index: int, size: int, path: list[bytes]) -> None:
    assert inclusion_proof(index, size, NODES) == path
    verify_inclusion(LEAF_HASHES[index], index, size, path, ROOTS[size - 1])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_proofs_match_the_reference(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, new, NODES) == proof
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


def verifies(verify: Callable[..., None], arguments: tuple[Any, ...]) -> bool:
    """Whether verification passes; only `ProofError` counts as failing."""
    try:
        verify(*arguments)
    except ProofError:
        return False
    return True


def flip(path: list[bytes], i: int, mask: int) -> list[bytes]:
    """A copy of `path` with the first byte of element i xor `mask`."""
    flipped = bytes([path[i][0] ^ mask]) + path[i][1:]
    return [*path[:i], flipped, *path[i + 1 :]]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS[1:])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, path: list[bytes]) -> None:
    # The probes of transparency-dev/merkle's corruptInclusionProof.
    leaf, root = LEAF_HASHES[index], ROOTS[size - 1]
    probes = {
        "index - 1": (leaf, index - 1, size, path, root),
        "index + 1": (leaf, index + 1, size, path, root),
        "index ^ 2": (leaf, index ^ 2, size, path, root),
        "size * 2": (leaf, index, size * 2, path, root),
        "size // 2": (leaf, index, size // 2, path, root),
        "wrong leaf": (leaf_hash(b"WrongLeaf"), index, size, path, root),
        "empty root": (leaf, index, size, path, EMPTY_ROOT),
        "random root": (leaf, index, size, path, SOME_HASH),
        "trailing garbage": (leaf, index, size, [*path, b""], root),
        "trailing root": (leaf, index, size, [*path, root], root),
        "preceding garbage": (leaf, index, size, [b"", *path], root),
        "preceding root": (leaf, index, size, [root, *path], root),
        "removed component": (leaf, index, size, path[:-1], root),
        "inserted component": (leaf, index, size, [path[0], SOME_HASH, *path[1:]], root),
    }
    for i in range(len(path)):
        probes[f"proof[{i}] bit 3"] = (leaf, index, size, flip(path, i, 8), root)
    assert [name for name, args in probes.items() if verifies(verify_inclusion, args)] == []


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    # The probes of transparency-dev/merkle's corruptConsistencyProof.
    root1, root2 = ROOTS[old - 1], ROOTS[new - 1]
    probes = {
        "old - 1": (old - 1, new, root1, root2, proof),
        "old + 1": (old + 1, new, root1, root2, proof),
        "old ^ 2": (old ^ 2, new, root1, root2, proof),
        "new * 2": (old, new * 2, root1, root2, proof),
        "new // 2": (old, new // 2, root1, root2, proof),
        "wrong root1": (old, new, SOME_HASH, root2, proof),
        "wrong root2": (old, new, root1, SOME_HASH, proof),
        "swapped roots": (old, new, root2, root1, proof),
        "empty proof": (old, new, root1, root2, []),
        "trailing garbage": (old, new, root1, root2, [*proof, b""]),
        "trailing root1": (old, new, root1, root2, [*proof, root1]),
        "trailing root2": (old, new, root1, root2, [*proof, root2]),
        "preceding garbage": (old, new, root1, root2, [b"", *proof]),
        "preceding root1": (old, new, root1, root2, [root1, *proof]),
        "preceding root2": (old, new, root1, root2, [root2, *proof]),
        "preceding proof[0]": (old, new, root1, root2, [proof[0], *proof]),
        "truncated proof": (old, new, root1, root2, proof[:-1]),
    }
    for i in range(len(proof)):
        probes[f"proof[{i}] bit 4"] = (old, new, root1, root2, flip(proof, i, 16))
    assert [name for name, args in probes.items() if verifies(verify_consistency, args)] == []


# --- verification edge cases --------------------------------------------------------------------


def test_a_single_leaf_tree_has_an_empty_inclusion_proof() -> None:
    digest = leaf_hash(b"data")
    verify_inclusion(digest, 0, 1, [], digest)
    with pytest.raises(ProofError, match=r"expected root"):
        verify_inclusion(digest, 0, 1, [], SOME_HASH)


def test_no_leaf_is_in_the_empty_tree() -> None:
    with pytest.raises(ProofError, match=r"expected index < size, got index 0 and size 0"):
        verify_inclusion(SOME_HASH, 0, 0, [], EMPTY_ROOT)


def test_inclusion_failures_name_what_differs() -> None:
    leaf, root = LEAF_HASHES[5], ROOTS[7]
    path = inclusion_proof(5, 8, NODES)
    with pytest.raises(
        ProofError, match=r"expected 3 proof hashes for index 5 in a tree of size 8"
    ):
        verify_inclusion(leaf, 5, 8, [*path, SOME_HASH], root)
    with pytest.raises(ProofError, match=r"expected 3 proof hashes .* got 2"):
        verify_inclusion(leaf, 5, 8, path[:2], root)
    with pytest.raises(ProofError, match=rf"expected root {SOME_HASH.hex()}, got {root.hex()}"):
        verify_inclusion(leaf, 5, 8, path, SOME_HASH)
    with pytest.raises(ProofError, match=r"expected a 32-byte leaf hash, got 4 bytes"):
        verify_inclusion(b"data", 5, 8, path, root)
    with pytest.raises(ProofError, match=r"expected a 32-byte hash at proof\[1\], got 31 bytes"):
        verify_inclusion(leaf, 5, 8, [path[0], path[1][:31], path[2]], root)
    with pytest.raises(ProofError, match=r"non-negative"):
        verify_inclusion(leaf, -1, 8, path, root)


def test_consistency_of_equal_sizes_is_an_empty_proof_and_equal_roots() -> None:
    verify_consistency(5, 5, ROOTS[4], ROOTS[4], [])
    with pytest.raises(ProofError, match=r"expected the same root for both trees of size 5"):
        verify_consistency(5, 5, ROOTS[4], ROOTS[5], [])
    with pytest.raises(ProofError, match=r"expected an empty proof for equal sizes, got 1"):
        verify_consistency(5, 5, ROOTS[4], ROOTS[4], [SOME_HASH])


def test_consistency_from_the_empty_tree_is_not_defined_by_rfc_9162() -> None:
    with pytest.raises(ProofError, match=r"old size 0: RFC 9162 section 2.1.4 defines"):
        verify_consistency(0, 8, EMPTY_ROOT, ROOTS[7], [])
    with pytest.raises(ValueError, match=r"old size 0"):
        consistency_proof(0, 8, NODES)


def test_consistency_failures_name_what_differs() -> None:
    proof = consistency_proof(6, 8, NODES)
    with pytest.raises(ProofError, match=r"expected 0 < old size <= new size, got old size 8"):
        verify_consistency(8, 6, ROOTS[7], ROOTS[5], proof)
    with pytest.raises(ProofError, match=r"expected 3 proof hashes for sizes 6 to 8, got 0"):
        verify_consistency(6, 8, ROOTS[5], ROOTS[7], [])
    with pytest.raises(ProofError, match=r"expected 3 proof hashes for sizes 6 to 8, got 4"):
        verify_consistency(6, 8, ROOTS[5], ROOTS[7], [*proof, SOME_HASH])
    with pytest.raises(ProofError, match=rf"expected old root {SOME_HASH.hex()}, got"):
        verify_consistency(6, 8, SOME_HASH, ROOTS[7], proof)
    with pytest.raises(ProofError, match=rf"expected new root {SOME_HASH.hex()}, got"):
        verify_consistency(6, 8, ROOTS[5], SOME_HASH, proof)
    with pytest.raises(ProofError, match=r"expected a 32-byte old root hash, got 9 bytes"):
        verify_consistency(6, 8, b"WrongRoot", ROOTS[7], proof)


# --- cost ----------------------------------------------------------------------------------------

SIZES = [1, 2, 3, 7, 8, 9, 100, 1023, 1024, 1025, 4097, 65535, 65536, 65537, 99999, 100000]


def bound(size: int) -> float:
    """At most 2 * log2(n) + 2 stored nodes per root or proof."""
    return 2 * math.log2(size) + 2


def test_roots_and_proofs_need_logarithmically_many_nodes_in_small_trees() -> None:
    for size in range(1, 200):
        assert len(perfect_subtrees(0, size)) <= math.log2(size) + 1
        for index in range(size):
            assert len(nodes_needed(inclusion_ranges(index, size))) <= bound(size), (index, size)
        for old in range(1, size + 1):
            assert len(nodes_needed(consistency_ranges(old, size))) <= bound(size), (old, size)


@pytest.mark.parametrize("size", SIZES)
def test_roots_and_proofs_need_logarithmically_many_nodes_up_to_100000(size: int) -> None:
    picks = sorted({0, 1, size // 3, size // 2, size - 2, size - 1, size * 7 // 11} - {-1})
    for index in (i for i in picks if 0 <= i < size):
        assert len(nodes_needed(inclusion_ranges(index, size))) <= bound(size), index
        assert len(nodes_needed(consistency_ranges(index + 1, size))) <= bound(size), index
