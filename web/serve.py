"""``sandbox serve``: the web app under gunicorn, built by the app factory in each worker."""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from sandbox.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings, self.options = settings, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from web.app import create_app

        return create_app(self.settings)


def serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    _Gunicorn(settings, {"bind": f"{host}:{port}", "workers": workers, "accesslog": "-"}).run()
