"""Datasets and releases: what the background data holds, with sources and quality."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.accounts.deps import AnyRole
from app.background import services
from app.background.schemas import Dataset, DatasetPage, Release

router = APIRouter(prefix="/v1", tags=["background data"])


@router.get(
    "/datasets",
    response_model=DatasetPage,
    summary="Search the background datasets (English or Chinese)",
)
def search_datasets(
    request: Request,
    principal: AnyRole,
    q: Annotated[
        str | None, Query(max_length=200, description="Words in the name (EN/中文) or id")
    ] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    geography: Annotated[str | None, Query(max_length=20, description="e.g. CN, GB, US")] = None,
    source: Annotated[str | None, Query(max_length=100, description="Words in the source")] = None,
    variant: Annotated[str | None, Query(max_length=50)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DatasetPage:
    bg = services.require_background(request)
    return services.search(bg, q, category, geography, source, variant, page, page_size)


@router.get("/datasets/{dataset_id}", response_model=Dataset, summary="One background dataset")
def get_dataset(request: Request, principal: AnyRole, dataset_id: str) -> Dataset:
    bg = services.require_background(request)
    return services.dataset(bg, dataset_id)


@router.get("/releases", response_model=list[Release], summary="Background-data releases built")
def list_releases(request: Request, principal: AnyRole) -> list[Release]:
    return services.releases(request.app.state.settings.data_dir, _current_id(request))


@router.get("/releases/current", response_model=Release, summary="The release in use")
def current_release(request: Request, principal: AnyRole) -> Release:
    bg = services.require_background(request)
    return services.release_out(bg.release, current=True)


def _current_id(request: Request) -> Any:
    bg = getattr(request.app.state, "background", None)
    return bg.release_id if bg else None
