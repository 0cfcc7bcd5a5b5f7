"""Server-rendered pages: one home per role, catalog, jobs, account. Session auth with CSRF."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Flask


def register(app: Flask) -> None:
    from web.ui import audit, auth, compute, governance, pages, products

    app.register_blueprint(auth.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(audit.bp)
    app.register_blueprint(governance.bp)
    app.register_blueprint(compute.bp)
    app.register_blueprint(products.bp)
    app.jinja_env.globals["current_user"] = auth.current_user_for_templates
    app.jinja_env.filters["pct"] = lambda v: f"{float(v) * 100:.1f}%"
    app.jinja_env.filters["fromjson"] = json.loads
    app.jinja_env.filters["urlencode_without"] = lambda args, drop: urlencode(
        [(k, v) for k, v in args.items(multi=True) if k != drop]
    )
    app.jinja_env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M UTC") if v else "—"
