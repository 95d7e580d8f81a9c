"""Bootstrap: the one place where configuration, database and key are wired together."""

from __future__ import annotations

from dataclasses import dataclass, replace

from monitor.config import Config
from monitor.crypto import Cipher, load_audit_key, load_cipher
from monitor.db import Database, check_schema


@dataclass
class App:
    config: Config
    db: Database
    cipher: Cipher

    @property
    def actor(self) -> str:
        return self.config.actor

    def acting_as(self, actor: str) -> App:
        """The same installation (database, key) with another name in the audit log:
        the web app's signed-in user for one request."""
        return App(config=replace(self.config, actor=actor), db=self.db, cipher=self.cipher)

    def close(self) -> None:
        self.db.dispose()


def bootstrap(config: Config | None = None, *, require_schema: bool = True) -> App:
    config = config or Config.from_env()
    db = Database(config.database_url)
    if require_schema:
        try:
            check_schema(db)
        except Exception:
            db.dispose()
            raise
    cipher = load_cipher(config.secret_key, config.key_file)
    db.audit_key = load_audit_key(config.audit_key, config.key_file)
    return App(config=config, db=db, cipher=cipher)
