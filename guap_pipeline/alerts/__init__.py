"""Alerts: incidents opened, worsened and resolved from the active flags, their messages
and delivery, and the flag and alert runs over the store.

Imports: everything below it (``series`` and lower); never ``report``, ``engines``,
``steps``.
"""
