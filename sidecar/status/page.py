"""`/status`: the status page of the gateway (viewer sign-in; operator and admin buttons).

GET  /status                          the page (?range=24h|7d), or the sign-in form
POST /status/sign-in                  form: token, csrf
POST /status/sign-out                 form: csrf
POST /status/queues/<queue>/pause     operator; form: csrf   (…/resume likewise)
POST /status/dlq/replay               operator; form: csrf, entry (one id; empty: all)
POST /status/mode                     admin; form: csrf, mode = single | queue | auto

Every answer carries a strict Content-Security-Policy: nothing but this origin, the page's
one stylesheet allowed by a per-response nonce, no script at all (it refreshes itself with
<meta http-equiv="refresh">).
"""

from __future__ import annotations

import secrets
import time

from flask import (
    Blueprint,
    Flask,
    Response,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
)

from sidecar.errors import BadRequest, Conflict, Forbidden
from sidecar.http.api_support import queue_param, redis_client
from sidecar.http.state import SidecarState, current_state
from sidecar.queues import deadletters
from sidecar.queues.overview import set_paused
from sidecar.settings import Settings
from sidecar.status import session as auth
from sidecar.status.data import DEFAULT_WINDOW, WINDOWS, gather

blueprint = Blueprint("status", __name__, url_prefix="/status", template_folder="templates")
REFRESH_SECONDS = 10
MODE_CHOICES = ("single", "queue", "auto")


def install(app: Flask, settings: Settings) -> None:
    """Register the page and sign its sessions."""
    auth.configure_sessions(app, settings)
    app.register_blueprint(blueprint)


def _state() -> SidecarState:
    """The app's SidecarState."""
    return current_state()


def _tokens() -> dict[str, str]:
    return _state().settings.admin_tokens


@blueprint.before_request
def _nonce() -> None:
    g.csp_nonce = secrets.token_urlsafe(16)


@blueprint.after_request
def _secure(response: Response) -> Response:
    """CSP and friends on every /status answer."""
    nonce = getattr(g, "csp_nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'none'; style-src 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("")
def show() -> Response:
    """The page for a signed-in person, else the sign-in form."""
    role = auth.signed_in_role(_tokens())
    if role is None:
        return _sign_in_form()
    window = request.args.get("range", DEFAULT_WINDOW)
    if window not in WINDOWS:
        raise BadRequest(f"'range' must be one of {', '.join(WINDOWS)}")
    page = gather(_state(), time.time(), window)
    html = render_template(
        "status.html",
        page=page,
        role=role,
        can_operate=auth.at_least(role, "operator"),
        can_pin=auth.at_least(role, "admin"),
        csrf=auth.csrf_token(),
        nonce=g.csp_nonce,
        refresh=REFRESH_SECONDS,
        notice=session.pop("notice", None),
        windows=list(WINDOWS),
    )
    return make_response(html)


def _sign_in_form(message: str | None = None, status: int = 200) -> Response:
    html = render_template(
        "sign_in.html",
        csrf=auth.csrf_token(),
        nonce=g.csp_nonce,
        message=message,
        disabled=not _tokens(),
    )
    return make_response(html, status)


@blueprint.post("/sign-in")
def sign_in() -> Response:
    """Check the token; keep it in the session on success."""
    auth.check_csrf(request.form.get("csrf"))
    if auth.sign_in(request.form.get("token", "").strip(), _tokens()) is None:
        return _sign_in_form("That token is not one of SIDECAR_ADMIN_TOKENS.", 401)
    return _back()


@blueprint.post("/sign-out")
def sign_out() -> Response:
    """Forget the token."""
    auth.check_csrf(request.form.get("csrf"))
    auth.sign_out()
    return _back()


def _allowed(needed: str) -> str:
    """The session's role if it is at least `needed` and the form's CSRF token is right."""
    role = auth.signed_in_role(_tokens())
    if role is None:
        raise Forbidden("sign in at /status first")
    auth.check_csrf(request.form.get("csrf"))
    if not auth.at_least(role, needed):
        raise Forbidden(f"this needs the {needed} role; you are signed in as {role}")
    return role


@blueprint.post("/queues/<path:queue>/<action>")
def pause_or_resume(queue: str, action: str) -> Response:
    """Pause or resume a queue (operator)."""
    _allowed("operator")
    if action not in ("pause", "resume"):
        raise BadRequest("the action must be pause or resume")
    name = queue_param(queue)
    assert name is not None
    set_paused(redis_client(), name, action == "pause")
    return _back(f"{name} {'paused' if action == 'pause' else 'resumed'}")


@blueprint.post("/dlq/replay")
def replay() -> Response:
    """Replay one dead letter (form field `entry`) or all of them (operator)."""
    _allowed("operator")
    client, settings = redis_client(), _state().settings
    entry = request.form.get("entry", "").strip()
    if entry:
        replayed = deadletters.replay(client, settings, entry)
        return _back(f"dead letter {replayed.id} replayed to {replayed.queue}")
    count, skipped = deadletters.replay_all(client, settings, None)
    return _back(f"{count} dead letters replayed, {skipped} skipped (still pending)")


@blueprint.post("/mode")
def pin() -> Response:
    """Pin single or queue, or unpin with auto (admin)."""
    _allowed("admin")
    state, wanted = _state(), request.form.get("mode")
    if wanted not in MODE_CHOICES:
        raise BadRequest(f"'mode' must be one of {', '.join(MODE_CHOICES)}")
    if wanted == "queue" and state.intake is None:
        raise Conflict("queue mode needs Redis: set REDIS_URL, REDIS_HOST or REDIS_SENTINELS")
    if wanted == "auto":
        state.store.unpin(by="status page")
        return _back("mode unpinned: automatic switching")
    state.store.pin(wanted, by="status page")
    return _back(f"mode pinned to {wanted}")


def _back(notice: str | None = None) -> Response:
    """303 to the page (post/redirect/get), with a one-time notice."""
    if notice:
        session["notice"] = notice
    return redirect("/status", code=303)
