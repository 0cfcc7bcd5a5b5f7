"""Server-rendered pages: one home per role, catalog, jobs, account. Session auth with CSRF."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    from web.ui import auth, pages

    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.jinja_env.globals["current_user"] = auth.current_user_for_templates
    app.jinja_env.filters["pct"] = lambda v: f"{float(v) * 100:.1f}%"
    app.jinja_env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M UTC") if v else "—"
