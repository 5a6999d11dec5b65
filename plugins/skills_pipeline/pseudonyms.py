"""Keyed pseudonyms for people: person_id = HMAC-SHA256(secret key, normalised ID number).

An unkeyed hash of an 18-character ID is not a pseudonym: the ID space (division x birth date x sequence) is
small enough to enumerate in hours. The key lives outside the repository (SKILLS_PSEUDONYM_KEY, or the file named
by SKILLS_PSEUDONYM_KEY_FILE, or an Airflow connection exported into the environment); each key version's
fingerprint is stored in the vault so a run with the wrong key stops before it writes anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

KEY_ENV = "SKILLS_PSEUDONYM_KEY"
KEY_FILE_ENV = "SKILLS_PSEUDONYM_KEY_FILE"
KEY_VERSION_ENV = "SKILLS_PSEUDONYM_KEY_VERSION"
MIN_KEY_BYTES = 32
FINGERPRINT_PROBE = b"skills-pipeline key fingerprint v1"


class PseudonymKeyError(RuntimeError):
    """The pseudonymisation key is missing, too short, or not the key this version was created with."""


@dataclass(frozen=True)
class PseudonymKey:
    version: int
    secret: bytes = b""

    @property
    def fingerprint(self) -> str:
        return hmac.new(self.secret, FINGERPRINT_PROBE, hashlib.sha256).hexdigest()

    def person_id(self, id_number: str) -> str:
        return hmac.new(self.secret, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()[:32]


def load_key() -> PseudonymKey:
    secret = os.environ.get(KEY_ENV, "")
    key_file = os.environ.get(KEY_FILE_ENV)
    if not secret and key_file:
        secret = Path(key_file).read_text().strip()
    if not secret:
        raise PseudonymKeyError(
            f"no pseudonymisation key: set {KEY_ENV} (at least {MIN_KEY_BYTES} characters, e.g. from "
            f"`python -c 'import secrets; print(secrets.token_hex(32))'`) or {KEY_FILE_ENV}, from your secrets "
            "backend; never commit it"
        )
    if len(secret.encode()) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"{KEY_ENV} is too short: use at least {MIN_KEY_BYTES} random characters")
    version = int(os.environ.get(KEY_VERSION_ENV, "1"))
    return PseudonymKey(version, secret.encode())


def ensure_key_registered(conn: psycopg.Connection, key: PseudonymKey) -> None:
    """Record a new key version's fingerprint, or refuse a key that differs from the one recorded."""
    conn.execute(
        "insert into vault.pseudonym_keys (key_version, key_fingerprint) values (%s, %s) on conflict do nothing",
        (key.version, key.fingerprint),
    )
    recorded = conn.execute(
        "select key_fingerprint from vault.pseudonym_keys where key_version = %s", (key.version,)
    ).fetchone()[0]
    if recorded != key.fingerprint:
        raise PseudonymKeyError(
            f"{KEY_ENV} is not the key that version {key.version} was created with; nothing was written. "
            f"Use the original key, or rotate: set {KEY_VERSION_ENV} to a new version (see README, Deploy)"
        )


def record(conn: psycopg.Connection, key: PseudonymKey, id_numbers: list[str]) -> None:
    """Store the pseudonym of each ID number not yet in the vault for this key version."""
    if not id_numbers:
        return
    conn.execute("create temporary table new_pseudonyms (id_number text, person_id text) on commit drop")
    with conn.cursor().copy("copy new_pseudonyms from stdin") as copy:
        for id_number in id_numbers:
            copy.write_row((id_number.strip().upper(), key.person_id(id_number)))
    conn.execute(
        "insert into vault.person_pseudonyms (id_number, key_version, person_id) "
        "select id_number, %s, person_id from new_pseudonyms on conflict do nothing",
        (key.version,),
    )
