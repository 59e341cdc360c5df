"""The narrow postgres interface the sitters' peers drive: ``SimPostgres`` (pgsim) and
``RealPostgres`` (pgreal) both have it, so one peer algorithm runs over either."""

from __future__ import annotations

from typing import Protocol

from migrator.sandbox.pgsim import PgConfig


class Postgres(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def reconfigure(self, config: PgConfig) -> None: ...

    def xlog_location(self) -> str: ...
