"""The leaf bytes are RFC 8785 canonical JSON: our fast path writes what the reference does."""

from __future__ import annotations

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from domain.canonical import canonical_bytes

SAFE = 2**53 - 1
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-SAFE, max_value=SAFE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_fast_canonical_json_equals_the_reference(record: dict) -> None:
    assert canonical_bytes(record) == rfc8785.dumps(record)


def test_integers_beyond_the_safe_range_are_refused_as_the_reference_does() -> None:
    import pytest

    with pytest.raises(rfc8785.IntegerDomainError):
        canonical_bytes({"size": 2**60})
