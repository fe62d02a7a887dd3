"""Start-up checks: each failure is one ConfigError naming the setting and what is wrong."""

from __future__ import annotations

import os
import tempfile

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from app.core.database import ensure_sqlite_dir, make_engine, ping
from app.core.errors import ConfigError
from app.core.settings import Settings


def check_data_dir(settings: Settings) -> None:
    d = settings.data_dir
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=d, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError("PCF_DATA_DIR", f"{d} is not writable ({exc.strerror or exc})") from exc


def check_database(settings: Settings) -> None:
    url = make_url(settings.database_url)
    try:
        ensure_sqlite_dir(settings.database_url)
    except OSError as exc:
        raise ConfigError(
            "PCF_DATABASE_URL", f"cannot create the SQLite folder ({exc.strerror or exc})"
        ) from exc
    engine = make_engine(settings.database_url)
    try:
        ping(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise ConfigError(
            "PCF_DATABASE_URL",
            f"database {url.render_as_string(hide_password=True)} is not reachable ({reason})",
        ) from exc
    finally:
        engine.dispose()


def run_preflight(settings: Settings) -> None:
    check_data_dir(settings)
    check_database(settings)
