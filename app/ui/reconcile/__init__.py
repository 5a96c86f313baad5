"""The reconciliation window: the ledger beside what a provider billed."""

from app.ui.reconcile.view import ReconcileView, show_window

__all__ = ["ReconcileView", "show_window"]
