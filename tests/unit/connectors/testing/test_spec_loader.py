"""Vendor spec loading: cached once per process, known defects repaired in memory."""

from __future__ import annotations

import copy

from openapi_spec_validator import validate

from connectors.testing.fakes.openapi_spec import fix_path_parameters, load_spec, spec_path


class TestSpecLoader:
    """The repaired specs pass a strict validator; the files are left untouched."""

    def test_zendesk_eleven_path_parameter_defects_repaired(self) -> None:
        loaded = load_spec(spec_path("zendesk/support-api.oas.yaml"))
        data = copy.deepcopy(loaded.data)
        assert fix_path_parameters(data) == []  # already clean
        dropped = [f for f in loaded.fixes if "dropped" in f]
        assert len(dropped) == 10  # one shared parameter covers two operations: 11 defects
        validate(data)  # raises on any remaining defect

    def test_intercom_job_identifier_repaired(self) -> None:
        loaded = load_spec(spec_path("intercom/api.intercom.io.2.14.yaml"))
        assert len(loaded.fixes) == 2
        validate(copy.deepcopy(loaded.data))

    def test_cached_per_process(self) -> None:
        path = spec_path("intercom/api.intercom.io.2.14.yaml")
        assert load_spec(path) is load_spec(path)
        assert load_spec(path).parse_seconds < 5.0
