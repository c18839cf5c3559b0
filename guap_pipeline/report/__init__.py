"""What people read: the text summary for the command line and logs, and the HTML report
with its charts.

Imports: everything below it (``alerts`` and lower); never ``engines`` or ``steps``.
"""
