"""The distribution installs the packages it names, and the generic names resolve to ours."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_top_level_names_resolve_to_this_project() -> None:
    import api
    import domain
    import projections

    for module in (api, domain, projections):
        assert Path(module.__file__ or "").resolve().is_relative_to(ROOT)


def test_console_script_is_reliquary() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"reliquary": "api.cli:run"}
    entry = [e for e in metadata.entry_points(group="console_scripts") if e.name == "reliquary"]
    assert entry and entry[0].value == "api.cli:run"


def test_demo_scenario_ships_as_package_data() -> None:
    from api.cli.demo import scenario_lines

    assert len(scenario_lines()) > 50


def test_every_package_is_declared() -> None:
    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("domain", "projections", "api")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk <= declared
