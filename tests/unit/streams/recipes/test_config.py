"""supportsync.yaml: defaults without a file, errors that name the field, StateConfig."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.config import SupportsyncConfig, load_config, parse_config
from app.settings import ConfigError


class TestLoadConfig:
    """Loading and validating the recipe configuration file."""

    def test_defaults_without_a_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("SUPPORTSYNC_CONFIG", raising=False)
        monkeypatch.chdir(tmp_path)
        config = load_config()
        assert config == SupportsyncConfig()
        assert config.recipes.r1_suppression.enabled
        assert config.state_config().cooldown == timedelta(days=7)

    def test_file_from_the_environment(self, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
        path = tmp_path / "custom.yaml"
        path.write_text("windows:\n  cooldown_days: 2\n  holdout_percent: 5\n"
                        "recipes:\n  r2_post_resolution:\n    enabled: false\n")
        monkeypatch.setenv("SUPPORTSYNC_CONFIG", str(path))
        config = load_config()
        assert not config.recipes.r2_post_resolution.enabled
        state = config.state_config()
        assert state.cooldown == timedelta(days=2) and state.holdout_percent == 5

    def test_missing_explicit_file_is_an_error(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="does not exist"):
            load_config(tmp_path / "nope.yaml")

    def test_error_names_the_field(self) -> None:
        doc = {"recipes": {"r5_vip_routing": {"segments": [{"segment": "vip",
                                                            "priority": "asap"}]}}}
        with pytest.raises(ConfigError) as error:
            parse_config(doc)
        assert "recipes.r5_vip_routing.segments[0].priority: Input should be" in str(error.value)

    def test_unknown_keys_are_errors(self) -> None:
        with pytest.raises(ConfigError, match=r"recipes\.r1_supression: Extra inputs"):
            parse_config({"recipes": {"r1_supression": {"enabled": False}}})

    def test_vip_rule_needs_segment_or_plan(self) -> None:
        with pytest.raises(ConfigError, match="segments\\[0\\]: Value error"):
            parse_config({"recipes": {"r5_vip_routing": {"segments": [{"priority": "high"}]}}})

    def test_bad_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text("recipes: [unclosed\n")
        with pytest.raises(ConfigError, match="not valid YAML"):
            load_config(path)

    def test_example_file_is_valid(self) -> None:
        example = Path(__file__).parents[4] / "supportsync.example.yaml"
        assert load_config(example) == SupportsyncConfig()
