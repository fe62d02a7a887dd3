"""A bad configuration stops start-up with one clear line naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _pcf(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PCF_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "setting", "words"),
    [
        ({"PCF_ENV": "staging"}, "PCF_ENV", "dev"),
        (
            {"PCF_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"},
            "PCF_DATABASE_URL",
            "not reachable",
        ),
        ({"PCF_DATABASE_URL": "mysql://x@y/z"}, "PCF_DATABASE_URL", "sqlite"),
        ({"PCF_DATA_DIR": "/proc/pcf-cannot-write"}, "PCF_DATA_DIR", "not writable"),
        ({"PCF_ENV": "prod"}, "PCF_SECRET_KEY", "secret"),
        ({"PCF_LOG_LEVEL": "LOUD"}, "PCF_LOG_LEVEL", "INFO"),
    ],
)
def test_bad_setting_is_one_line(env: dict[str, str], setting: str, words: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "PCF_DATA_DIR": str(tmp_path / "d"),
        "PCF_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        **env,
    }
    r = _pcf("migrate", **env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert setting in lines[0] and words in lines[0]
    assert "Traceback" not in r.stderr


def test_migrate_works_with_good_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    r = _pcf(
        "migrate", PCF_DATA_DIR=str(tmp_path / "d"), PCF_DATABASE_URL=f"sqlite:///{tmp_path}/ok.db"
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "ok.db").exists()


@pytest.mark.parametrize("cmd", [[], ["serve"], ["migrate"], ["data"], ["data", "build"]])
def test_every_command_explains_itself(cmd: list[str]) -> None:
    r = _pcf(*cmd, "--help")
    assert r.returncode == 0
    assert "usage: pcf" in r.stdout
