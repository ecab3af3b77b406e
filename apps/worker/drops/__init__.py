"""Drop (key = dropId): a drop's life from initialize to completed, timers included.

The object is declared in `object.py`; each module beside it adds the handlers of one
concern (creation and reads, entries, the draw, purchases). Importing the package
registers them all.
"""

from apps.worker.drops import draw, entries, lifecycle, order_reads, orders, purchase
from apps.worker.drops.object import drop_object

__all__ = ["draw", "drop_object", "entries", "lifecycle", "order_reads", "orders", "purchase"]
