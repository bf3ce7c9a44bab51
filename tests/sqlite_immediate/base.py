"""SQLite with ``BEGIN IMMEDIATE`` on Django 4.2 (5.1+ has ``transaction_mode``)."""

from django.db.backends.sqlite3 import base


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self) -> None:
        self.cursor().execute("BEGIN IMMEDIATE")
