"""The worker's ``/``: the drift dashboard of the whole cluster, read from the drift topic.

Two app tasks (the drift-topic reader and the affected consumers' look) and one page, all from
``stream_sentinel.dashboard``: the same page ``stream-sentinel dashboard`` serves. The reader is
its own group-less consumer, apart from the worker's consumer and producer: it never touches the
worker's group, offsets or ``/ready`` (a failing reader is said on the page only). Rendering runs
in a thread and is cached (``dashboard/page.py``), so the validate agent never waits for a page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from stream_sentinel.core.health.aggregate import contracts_of
from stream_sentinel.dashboard.page import Dashboard, DashboardConfig

if TYPE_CHECKING:
    from faust import App
    from faust.web import Request, Response, View

    from stream_sentinel.config import Settings

HEADERS: Final = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: Faust's production index (``{"status": "OK"}`` at ``/``): it has no setting of its own (web.FAUST_BLUEPRINTS_OFF).
FAUST_INDEX: Final = "faust.web.apps.production_index:blueprint"


def drop_faust_index(app: App) -> None:
    """Take Faust's own ``/`` out of its blueprint list, whether or not the dashboard takes the path.

    Faust mounts it whenever its statistics are off and offers no flag for it; two views on ``/``
    stop the web server at start. Its blueprints are applied when the server starts, so filtering
    the list before then is enough (``BlueprintManager._enabled``: Faust 0.15.3, pinned).
    """
    blueprints: Any = app.web.blueprints
    blueprints._enabled = [(prefix, bp) for prefix, bp in blueprints._enabled if bp != FAUST_INDEX]


def attach(app: App, settings: Settings, catalog: Any) -> Dashboard | None:
    """Add the dashboard's tasks and page to the worker's Faust app (None when switched off)."""
    drop_faust_index(app)
    if not (settings.dashboard_enabled and settings.web_enabled):
        return None
    dashboard = Dashboard(
        DashboardConfig.from_settings(settings),
        contracts_of(catalog, exclude=(settings.drift_topic,)),
    )
    app.task(dashboard.reader.run)
    app.task(dashboard.collect_consumers)

    @app.page("/")
    async def index(web: View, request: Request) -> Response:  # noqa: ARG001 - Faust view signature
        return web.html(await dashboard.page(), headers=HEADERS)

    return dashboard
