"""Handing finished exports to the customer (a local folder or Box) and deleting them later.

``base`` holds the interface and the receipt/evidence types; ``local`` and ``box`` the backends.
"""
