"""Admin pages: every user with their role and sign-in state; change a role, disable or
enable an account. An admin cannot demote or disable themselves, so there is always one."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from coach.auth import role_required
from coach.db import execute, get_db, query
from coach.forms import IdForm, RoleForm, form_problems

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _users_page(conn: Any, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    rows = query(conn, """
        SELECT u.id::text AS id, u.email, u.first_name, u.last_name, u.role, u.created_at,
               c.user_id IS NOT NULL AS can_sign_in, c.disabled_at,
               (SELECT count(*) FROM sessions s WHERE s.athlete = u.id) AS sessions,
               count(*) OVER () AS total
          FROM users u LEFT JOIN credentials c ON c.user_id = u.id
         ORDER BY u.last_name, u.first_name, u.email LIMIT %s OFFSET %s""",
        (page_size, (page - 1) * page_size))
    return rows, (rows[0]["total"] if rows else 0)


def _render(conn: Any, status: int = 200, problems: list[str] | None = None) -> Any:
    page_size = current_app.config["COACH_SETTINGS"].page_size
    page = request.args.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) <= 100_000 else 1
    users, total = _users_page(conn, page, page_size)
    body = render_template("admin/users.html", users=users, page=page,
                           pages=max(1, -(-total // page_size)), total=total,
                           problems=problems)
    conn.rollback()
    return body, status


@bp.route("/users")
@role_required("admin")
def users() -> Any:
    return _render(get_db())


@bp.route("/users/role", methods=("POST",))
@role_required("admin")
def change_role() -> Any:
    conn = get_db()
    form = RoleForm()
    if not form.validate_on_submit():
        return _render(conn, 400, form_problems(form))
    if form.id.data == g.user["id"]:
        return _render(conn, 400, ["You cannot change your own role (ask another admin)."])
    changed = execute(conn, "UPDATE users SET role = %s, updated_at = CURRENT_TIMESTAMP "
                            "WHERE id = %s", (form.role.data, form.id.data))
    if form.role.data != "trainer":
        execute(conn, "DELETE FROM trainer_athletes WHERE trainer_id = %s", (form.id.data,))
    if form.role.data != "athlete":
        execute(conn, "DELETE FROM trainer_athletes WHERE athlete_id = %s", (form.id.data,))
    conn.commit()
    flash(f"Role set to {form.role.data}." if changed else "No user has that id.")
    return redirect(url_for("admin.users"))


def _set_disabled(disabled: bool) -> Any:
    conn = get_db()
    form = IdForm()
    if not form.validate_on_submit():
        return _render(conn, 400, form_problems(form))
    if form.id.data == g.user["id"]:
        return _render(conn, 400, ["You cannot disable your own account."])
    changed = execute(conn, """
        UPDATE credentials SET disabled_at = CASE WHEN %s THEN now() END,
               session_epoch = session_epoch + 1, updated_at = now()
         WHERE user_id = %s""", (disabled, form.id.data))
    conn.commit()
    flash(("Account disabled." if disabled else "Account enabled.") if changed
          else "That user has no sign-in account.")
    return redirect(url_for("admin.users"))


@bp.route("/users/disable", methods=("POST",))
@role_required("admin")
def disable() -> Any:
    return _set_disabled(True)


@bp.route("/users/enable", methods=("POST",))
@role_required("admin")
def enable() -> Any:
    return _set_disabled(False)
