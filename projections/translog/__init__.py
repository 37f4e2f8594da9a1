"""The transparency log: every event a leaf of an RFC 9162 Merkle tree, with signed checkpoints."""
