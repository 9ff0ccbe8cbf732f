"""Every blueprint of the web app, registered in one place."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from coach import admin, auth, profile, rep_labels, roster, session_commands

    app.register_blueprint(auth.bp)
    app.register_blueprint(profile.bp)
    app.register_blueprint(roster.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(session_commands.bp)
    app.register_blueprint(rep_labels.bp)
    from coach.review import athlete_pages, dashboard_page, exports, session_pages, template_helpers
    app.register_blueprint(dashboard_page.bp)
    app.register_blueprint(session_pages.bp)
    app.register_blueprint(athlete_pages.bp)
    app.register_blueprint(exports.bp)
    app.register_blueprint(template_helpers.bp)
