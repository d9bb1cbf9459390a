"""Sign-in glue for streamlit-authenticator 0.4.x: the login form, the cookie, the sidebar account box."""

from __future__ import annotations

import logging
from typing import Any

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities import LoginError

from core import APP_NAME
from core.identity import audit, auth, sessions
from core.identity.types import UserRecord
from core.transcripts.export.docs import escape_markdown
from core.workbench import Workbench
from ui.context import USER_KEY

log = logging.getLogger("workbench.ui")
COOKIE_NAME = "workbench_auth"
COOKIE_DAYS = 7.0
VERSION_CLAIM = "sv"  # the user's session version when the cookie was issued
VERSION_KEY = "wb_session_version"
WAIT_KEY = "wb_login_wait_s"
_FIELDS = {
    "Form name": "Sign in",
    "Username": "User name",
    "Password": "Password",
    "Login": "Sign in",
}


def _authenticator(wb: Workbench) -> stauth.Authenticate:
    # Built every run from the users table + YAML, so role changes and deactivations apply at once.
    # login_sleep_time=0: the default pause makes a refresh on a sub-page land on the default page.
    authenticator = stauth.Authenticate(
        auth.authenticator_credentials(wb),
        cookie_name=COOKIE_NAME,
        cookie_key=auth.cookie_key(wb.settings),
        cookie_expiry_days=COOKIE_DAYS,
        auto_hash=False,
        login_sleep_time=0,
    )
    _guard_cookies(wb, authenticator)
    return authenticator


def _guard_cookies(wb: Workbench, authenticator: stauth.Authenticate) -> None:
    """Only our own, current cookies sign in; a crafted one (`alg: none`, another algorithm) counts as none.

    Cookies carry the user's session version, so ending the sessions in the database voids them.
    The library catches only bad signatures and lets every other token error crash the page; its cookie
    model's decoder is wrapped on this instance, like the login in `_audited`.
    """
    model = authenticator.cookie_controller.cookie_model
    original = model._token_decode

    def decode() -> Any:
        try:
            token = original()
        except jwt.InvalidTokenError:
            log.warning("ignored a login cookie that is not one of ours")
            return False
        if not isinstance(token, dict) or not isinstance(token.get("exp_date"), int | float):
            return False
        # A cookie issued before a password change, role change, deactivation or sign-out is void.
        version = sessions.current_version(wb, str(token.get("username") or ""))
        if version is None or token.get(VERSION_CLAIM) != version:
            return False
        st.session_state[VERSION_KEY] = version
        return token

    def encode() -> str:
        version = sessions.current_version(wb, st.session_state.get("username") or "")
        claims = {"username": st.session_state["username"], "exp_date": model.exp_date, VERSION_CLAIM: version}
        return jwt.encode(claims, model.cookie_key, algorithm="HS256")

    model._token_decode = decode
    model._token_encode = encode


def _signed_in(wb: Workbench) -> UserRecord | None:
    if not st.session_state.get("authentication_status"):
        return None
    login_name = st.session_state.get("username") or ""
    version = sessions.current_version(wb, login_name)
    known = st.session_state.setdefault(VERSION_KEY, version)
    if version is None or known != version:
        # The password, role or access changed, or the user signed out elsewhere, since this session began.
        st.session_state.pop(VERSION_KEY, None)
        return None
    user = auth.user_for_login(wb, login_name)
    if user is not None:
        st.session_state[USER_KEY] = user.name
    return user


def _sign_out(authenticator: stauth.Authenticate) -> None:
    st.session_state.pop(USER_KEY, None)
    if st.session_state.get("authentication_status"):
        authenticator.logout(location="unrendered")


def gate(wb: Workbench) -> tuple[UserRecord | None, stauth.Authenticate]:
    """The signed-in user (re-signed from the cookie when there is one), or None and the login form to show."""
    authenticator = _authenticator(wb)
    try:
        authenticator.login(location="unrendered")  # only checks the cookie; renders nothing
    except LoginError:
        # A cookie for a user who was deactivated or removed since.
        _sign_out(authenticator)
    user = _signed_in(wb)
    if user is None and st.session_state.get("authentication_status"):
        _sign_out(authenticator)
        st.session_state["wb_signed_out_reason"] = "This account is not active any more."
    return user, authenticator


def _audited(wb: Workbench, authenticator: stauth.Authenticate) -> None:
    """Record every form sign-in attempt in the audit log under the name typed (never the password).

    The authenticator has no failure callback, so its controller's login is wrapped on this instance.
    """
    controller = authenticator.authentication_controller
    original = controller.login

    def login(username: str | None = None, password: str | None = None, *args: Any, **kwargs: Any) -> Any:
        client = st.context.ip_address or "local"
        if username:
            wait = sessions.login_wait_s(wb, username, client)
            if wait > 0:  # too many failures in a row for this name or this client: the password is not tried
                audit.record_login(wb.Session, username, False, client=client, throttled=True)
                st.session_state[WAIT_KEY] = wait
                return None
        result = original(username, password, *args, **kwargs)
        if username:
            audit.record_login(wb.Session, username, bool(result), client=client)
        return result

    controller.login = login


def login_page(wb: Workbench, authenticator: stauth.Authenticate) -> None:
    """The sign-in screen; never calls st.rerun(): the cookie component reruns the app once the cookie is set."""
    _, middle, _ = st.columns([1, 1.6, 1])
    with middle:
        st.title(f":material/graphic_eq: {APP_NAME}")
        st.caption("Upload or record audio, get transcripts and summaries, search, edit and export them.")
        reason = st.session_state.pop("wb_signed_out_reason", None)
        if reason:
            st.warning(reason)
        if st.session_state.get("authentication_status") is False:
            st.session_state["authentication_status"] = None  # so False below means: refused just now
        _audited(wb, authenticator)
        try:
            authenticator.login(location="main", fields=_FIELDS, key="sign_in", max_login_attempts=None)
        except LoginError as exc:
            st.error(str(exc))
        status = st.session_state.get("authentication_status")
        wait = st.session_state.pop(WAIT_KEY, None)
        if wait:
            st.error(
                f"Too many failed sign-ins for this name or from this computer. Try again in {wait} s.",
                icon=":material/timer:",
            )
        elif status is False:
            st.error("That user name and password do not match. Please try again.", icon=":material/lock:")
        elif status:
            user = _signed_in(wb)
            st.success(f"Signed in as {user.name if user else 'you'} — opening your workspace…")
            # The cookie component reruns the app by itself; this is the way on should it not.
            st.button("Continue", icon=":material/arrow_forward:", key="sign_in_continue")
        else:
            st.caption(
                "First start? The user is **admin**; the password is `WORKBENCH_ADMIN_PASSWORD`, "
                "or the one printed once in the server log."
            )


def account_box(wb: Workbench, user: UserRecord, authenticator: stauth.Authenticate) -> bool:
    """Who is signed in and a sign-out button, in the sidebar; True once the user signed out.

    No st.rerun() after signing out: the cookie component reruns the app once the cookie is deleted.
    """
    with st.sidebar:
        role = "Administrator" if user.is_admin else "Member"
        st.markdown(f":material/account_circle: **{escape_markdown(user.name)}** · :gray[{role}]")
        clicked = st.button("Sign out", icon=":material/logout:", key="sign_out", width="stretch")
    if clicked:  # outside the sidebar, so the cookie component does not keep an empty sidebar open
        sessions.end_sessions(wb, user.name)  # a copy of the cookie must not keep working
        st.session_state.pop(USER_KEY, None)
        st.session_state.pop(VERSION_KEY, None)
        authenticator.logout(location="unrendered")
    return clicked
