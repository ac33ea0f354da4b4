"""Dependencies handed to routes (``Annotated`` aliases); nothing here is a module global."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import Principal, Role, authenticate
from api.resources import Resources
from api.services.answering import AnsweringService
from api.services.jobs import JobRunner
from api.state import AppState

_bearer = HTTPBearer(auto_error=False, description="API key (when keys exist).")


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.rag
    return state


State = Annotated[AppState, Depends(get_state)]


def get_resources(state: State) -> Resources:
    return state.resources


def get_answering(state: State) -> AnsweringService:
    return state.answering


def get_jobs(state: State) -> JobRunner:
    return state.jobs


def get_principal(
    state: State,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials is not None else None
    token = token or request.headers.get("x-api-key")
    return authenticate(
        state.resources.kb.read_session, token=token, auth_mode=state.settings.api.auth
    )


ResourcesDep = Annotated[Resources, Depends(get_resources)]
AnsweringDep = Annotated[AnsweringService, Depends(get_answering)]
JobsDep = Annotated[JobRunner, Depends(get_jobs)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _needs(role: Role) -> Callable[[Principal], Principal]:
    def check(principal: PrincipalDep) -> Principal:
        principal.require_role(role)  # 403 without it
        return principal

    return check


# The caller, once its key is known to hold the role the route needs.
SearchPrincipal = Annotated[Principal, Depends(_needs(Role.SEARCH))]
AskPrincipal = Annotated[Principal, Depends(_needs(Role.ASK))]
IngestPrincipal = Annotated[Principal, Depends(_needs(Role.INGEST))]
AdminPrincipal = Annotated[Principal, Depends(_needs(Role.ADMIN))]
