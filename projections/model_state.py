"""A model's state as plain JSON: what `reliquary history` shows beside the events."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.lifecycle import ModelLifecycle
from domain.rules import PreferencePolicy, is_stable
from projections.records import jsonable


def model_state(model: ModelLifecycle, policy: PreferencePolicy, *, as_of: date) -> dict[str, Any]:
    """Everything the aggregate knows about a model, at its current version.

    Access requests are read as of the day ``as_of`` (UTC): an approved grant past its
    ``expires_on`` then reads ``expired`` (`domain.state.AccessRequest.status_as_of`).
    """
    weights = model.weights
    requests = jsonable(model.access_requests)
    for request_id, request in model.access_requests.items():
        requests[request_id]["status"] = request.status_as_of(as_of)
    return {
        "model": model.name,
        "model_id": str(model.id),
        "version": model.version,
        "as_recorded_at": jsonable(model.modified_on),
        "family": model.family,
        "model_version": model.model_version,
        "release_date": jsonable(model.release_date),
        "developer": model.developer,
        "status": model.lifecycle_status,
        "retirement": {
            "scheduled_for": jsonable(model.retirement_date),
            "reasons": list(model.retirement_reasons),
            "successor": model.successor,
            "retired_on": jsonable(model.retired_on),
            "final_status": model.final_status,
        },
        "weights": None
        if weights is None
        else {
            "manifest_digest": weights.manifest_digest,
            "files": weights.file_count,
            "bytes": weights.total_bytes,
            "locations": list(weights.locations),
            "custodian": weights.custodian,
            "retention": weights.retention,
            "recorded_in_version": weights.version,
        },
        "artifacts": dict(model.artifacts),
        "archive_checks": jsonable(model.archive_checks),
        "interviews": jsonable(model.interviews),
        "preferences": {
            preference_id: {
                "statement": preference.statement,
                "theme": preference.theme,
                "interviews": [support.interview_id for support in preference.supports],
                "contradictions": preference.contradictions,
                "stable": is_stable(preference.supports_since_contradiction, policy),
                "outcome": preference.outcome,
            }
            for preference_id, preference in model.preferences.items()
        },
        "access_policy": jsonable(model.access_policy),
        "access_requests": requests,
        "access_status_as_of": as_of.isoformat(),
        "essays": jsonable(model.essays),
        "signals": model.signals,
    }
