"""The command line: --version, run options, unknown variables, exit codes, errors on stderr
without tracebacks, and a --help that loads none of the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import cli
from streams.runtime.broker import free_port

ROOT = Path(__file__).resolve().parents[3]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=120,
        check=False, cwd=ROOT, env={**clean, **(env or {})},
    )


class TestVersionAndHelp:
    """`--version` like other tools; `--help` lists the exit codes and imports nothing heavy."""

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit) as info:
            cli.main(["--version"])
        assert info.value.code == 0
        assert capsys.readouterr().out.strip() == f"supportsync {cli.version()}"

    def test_help_lists_exit_codes(self, capsys: pytest.CaptureFixture[str]) -> None:
        with pytest.raises(SystemExit):
            cli.main(["--help"])
        out = capsys.readouterr().out
        assert "exit codes:" in out and "3    the broker or the worker cannot be reached" in out

    def test_help_loads_no_heavy_library(self) -> None:
        probe = (
            "import sys\n"
            "from app import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('faust', 'aiokafka', 'aiohttp', 'pydantic', 'mode') "
            "if m in sys.modules]\n"
            "print('HEAVY', heavy)\n"
        )
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=60, check=False, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        assert "HEAVY []" in done.stdout


class TestRunOptions:
    """`run --web-port/--config/--log-level` override the environment."""

    def test_options_reach_the_worker(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        seen: dict[str, Any] = {}

        def fake_run(settings: Any, *, log_level: str) -> int:
            from app.config import load_config

            seen.update(port=settings.web_port, level=log_level, config=load_config())
            return 0

        config = tmp_path / "recipes.yaml"
        config.write_text("replay: {one_off_horizon_hours: 5}\n")
        monkeypatch.setattr(cli, "cmd_run", fake_run)
        monkeypatch.setenv("SUPPORTSYNC_WEB_PORT", "7000")
        monkeypatch.delenv("SUPPORTSYNC_CONFIG", raising=False)
        args = ["run", "--web-port", "7123", "--config", str(config), "--log-level", "warning"]
        assert cli.main(args) == 0
        assert seen["port"] == 7123 and seen["level"] == "WARNING"
        assert seen["config"].replay.one_off_horizon_hours == 5

    def test_missing_config_file_is_exit_2(self, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(cli, "cmd_run", lambda *_a, **_k: 0)
        assert cli.main(["run", "--config", "/nonexistent/supportsync.yaml"]) == 2
        assert "/nonexistent/supportsync.yaml does not exist" in capsys.readouterr().err


class TestUnknownVariables:
    """A misspelt SUPPORTSYNC_* variable is named in a warning, with the likely intent."""

    def test_typo_is_named(self) -> None:
        found = cli.unknown_variables({
            "SUPPORTSYNC_WEB_PROT": "1", "SUPPORTSYNC_WEB_PORT": "2",
            "SUPPORTSYNC_REPLAY_ONE_OFF_HORIZON_S": "3", "SUPPORTSYNC_CONFIG": "x",
            "SUPPORTSYNC_NONSENSE_THING": "4", "PATH": "/bin",
        })
        assert found == [
            "SUPPORTSYNC_NONSENSE_THING",
            "SUPPORTSYNC_WEB_PROT (did you mean SUPPORTSYNC_WEB_PORT?)",
        ]

    def test_warning_on_stderr(self) -> None:
        done = _cli("state", "show", "x@example.com", "--url", f"http://127.0.0.1:{free_port()}",
                    env={"SUPPORTSYNC_ZENDSK_WEBHOOK_SECRET": "s"})
        assert "warning: unknown variable SUPPORTSYNC_ZENDSK_WEBHOOK_SECRET" in done.stderr
        assert "did you mean SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET?" in done.stderr


class TestUnreachable:
    """No traceback when the broker or the worker cannot be reached: one line, exit 3."""

    @pytest.mark.parametrize("args", [("dlq", "list"), ("version", "show")])
    def test_broker_down(self, args: tuple[str, ...]) -> None:
        bootstrap = f"127.0.0.1:{free_port()}"
        done = _cli(*args, env={"SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS": bootstrap})
        assert done.returncode == 3, done.stderr
        assert f"supportsync: cannot reach {bootstrap}" in done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""

    def test_worker_down(self) -> None:
        done = _cli("state", "show", "x@example.com", "--url", f"http://127.0.0.1:{free_port()}")
        assert done.returncode == 3 and "cannot reach the worker" in done.stderr

    def test_no_broker_configured_is_exit_2(self) -> None:
        done = _cli("dlq", "list")
        assert done.returncode == 2
        assert "SUPPORTSYNC_KAFKA_BOOTSTRAP_SERVERS" in done.stderr and done.stdout == ""


class TestFirstRunBannerText:
    """The banner lists what a new user needs; generated secrets only on loopback."""

    def _settings(self, host: str) -> Any:
        from app.settings import Settings

        settings, generated = Settings(web_host=host).with_dev_secrets()  # type: ignore[call-arg]
        return settings, generated

    def test_loopback_shows_secrets_and_sample(self) -> None:
        settings, generated = self._settings("127.0.0.1")
        text = cli.first_run_banner(settings, 6066, generated, embedded=True)
        assert "http://127.0.0.1:6066/webhooks/zendesk" in text
        assert "http://127.0.0.1:6066/v1/{alias,batch,group,identify,page,screen,track}" in text
        assert "status page:  http://127.0.0.1:6068/" in text  # the admin listener
        assert str(settings.data_dir / "outbox" / "customerio.jsonl") in text
        secret = settings.zendesk_webhook_secret.get_secret_value()
        assert f"SUPPORTSYNC_ZENDESK_WEBHOOK_SECRET={secret}" in text and "curl -sS" in text

    def test_beyond_loopback_keeps_secrets_to_itself(self) -> None:
        settings, generated = self._settings("0.0.0.0")
        text = cli.first_run_banner(settings, 6066, generated, embedded=True)
        assert "http://127.0.0.1:6066/webhooks/zendesk" in text
        assert settings.zendesk_webhook_secret.get_secret_value() not in text
        assert "not printed" in text
