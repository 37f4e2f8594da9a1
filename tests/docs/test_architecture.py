"""docs/architecture.md holds the map of the code: every module in its tables, and no other.

Each layer (`domain/`, `projections/`, `api/`) has a section whose tables name its modules in
the first column, relative to the layer (`lifecycle.py`, `translog/tree.py`, `http/routes/
commands.py`). A module added without a row, or a row left behind by a module removed or
renamed, fails here, so the map stays true.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
LAYERS = ("domain", "projections", "api")
_SECTION = re.compile(r"^### `(domain|projections|api)/`", re.MULTILINE)
_ROW = re.compile(r"^\| `([^`]+\.py)` \|", re.MULTILINE)


def _documented() -> dict[str, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    marks = list(_SECTION.finditer(text))
    sections: dict[str, set[str]] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following else text.find("\n## ", mark.end())
        body = text[mark.end() : end if end != -1 else len(text)]
        sections[mark.group(1)] = set(_ROW.findall(body))
    return sections


def _modules(layer: str) -> set[str]:
    """Every module of a layer; a package's ``__init__.py`` only if it holds code."""
    base = ROOT / layer
    return {
        path.relative_to(base).as_posix()
        for path in base.rglob("*.py")
        if path.name != "__init__.py" or _has_code(path)
    }


def _has_code(path: Path) -> bool:
    text = path.read_text(encoding="utf-8")
    return bool(re.sub(r'^\s*"""(?:.|\n)*?"""', "", text).strip())


@pytest.mark.parametrize("layer", LAYERS)
def test_every_module_has_a_row_and_every_row_a_module(layer: str) -> None:
    documented = _documented().get(layer)
    assert documented is not None, f"docs/architecture.md has no section ### `{layer}/`"
    actual = _modules(layer)
    missing = sorted(actual - documented)
    stale = sorted(documented - actual)
    assert not missing, f"modules of {layer}/ missing from docs/architecture.md: {missing}"
    assert not stale, f"docs/architecture.md names modules {layer}/ does not have: {stale}"


def test_the_stated_retry_bound_is_the_ledgers() -> None:
    from domain.ledger import Ledger

    text = DOC.read_text(encoding="utf-8")
    stated = re.findall(r"`Ledger\.max_attempts` \((\d+)\)", text)
    assert stated, "architecture.md should state Ledger.max_attempts"
    assert {int(n) for n in stated} == {Ledger.max_attempts}
