"""The settings dialogs: API keys and endpoints, prices, the balance panel, the local endpoint.

Each takes the :class:`~app.ui.context.AppContext`, does its database and key-store work on the
context's task thread (network checks on its stream threads), and announces what it changed on
``context.events`` so the other views refresh.
"""

from app.ui.dialogs.balance import BalanceDialog
from app.ui.dialogs.keys import KeysDialog
from app.ui.dialogs.local_endpoint import LocalEndpointDialog
from app.ui.dialogs.prices import PricesDialog

__all__ = ["BalanceDialog", "KeysDialog", "LocalEndpointDialog", "PricesDialog"]
