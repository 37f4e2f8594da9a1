"""The command that recomputes a fairness report from an offline audit bundle.

A report names where in the signed log it was computed (`LedgerPosition`: the checkpoint's
size and root, and the moment T) and every setting it used (`FairnessPolicy`, the preference
stability thresholds). `reproduce_command` writes them back as the options of
``reliquary report fairness --bundle DIR``, which computes the same report from the bundle's
events alone and prints byte-identical JSON (docs/fairness.md, "Reproducing a report").
Settings at their defaults are left out, so the usual command stays short.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from domain.rules import PreferencePolicy
from projections.fairness.figures import DEFAULT_POLICY, FairnessReport
from projections.fairness.text import moment_text

BUNDLE_PLACEHOLDER = "BUNDLE"
"""Where the command names the bundle's folder (the reader's own copy)."""
KEY_PLACEHOLDER = "KEY"
"""Where it names the verifier key the reader pinned (the operator's published key, never the
bundle's own: a bundle's key proves nothing about who signed it)."""

# Each setting's option, in the order the command lists them.
_POLICY_OPTIONS = {
    "criteria_distance": "--criteria-distance",
    "min_decided": "--min-decided",
    "four_fifths": "--four-fifths",
    "significance": "--significance",
    "min_group_share": "--min-group-share",
}
_FLAG_OPTIONS = {"impact_range": "--impact-range"}
_STABILITY_OPTIONS = {
    "min_interviews": "--stable-interviews",
    "min_days": "--stable-days",
    "min_framings": "--stable-framings",
}


def reproduce_options(report: FairnessReport) -> list[str]:
    """The options that recompute ``report``: T, the checkpoint's size, settings not at default."""
    options: list[str] = []
    position = report.position
    if position is not None:
        options += ["--as-of", moment_text(position.moment)]
        if position.checkpoint_size is not None:
            options += ["--size", str(position.checkpoint_size)]
    default: dict[str, Any] = {
        f.name: getattr(DEFAULT_POLICY, f.name) for f in fields(DEFAULT_POLICY)
    }
    for name, option in _POLICY_OPTIONS.items():
        value = getattr(report.policy, name, None)
        if value is not None and value != default.get(name):
            options += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    for name, option in _FLAG_OPTIONS.items():
        if getattr(report.policy, name, False):
            options.append(option)
    if report.stability is not None:
        usual = PreferencePolicy()
        for name, option in _STABILITY_OPTIONS.items():
            value = getattr(report.stability, name)
            if value != getattr(usual, name):
                options += [option, str(value)]
    return options


def reproduce_command(
    report: FairnessReport, bundle: str = BUNDLE_PLACEHOLDER, key: str = KEY_PLACEHOLDER
) -> str:
    """``reliquary report fairness --bundle BUNDLE --key KEY --as-of T --size N ...``."""
    return " ".join(
        ["reliquary", "report", "fairness", "--bundle", bundle, "--key", key]
        + reproduce_options(report)
    )
