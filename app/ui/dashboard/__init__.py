"""The usage dashboard: spend over time, by model and conversation, forecast, what-if."""

from app.ui.dashboard.view import DashboardView

__all__ = ["DashboardView"]
