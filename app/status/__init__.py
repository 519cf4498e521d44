"""Sync health for operators: the status page, `/state/{identifier}`, and the gauges updater."""

from app.status.routes import status_routes
from app.status.updater import StatusUpdater

__all__ = ["StatusUpdater", "status_routes"]
