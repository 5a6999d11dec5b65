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
    """Refuse a key that is not the one recorded for its version. Only the very first version of an empty vault is
    recorded here: any later version is started by `skills-pipeline vault rotate`, which re-keys the vault, so that
    a wrong key or version in the environment can never quietly split people across versions."""
    # One first key, however many loaders start at once.
    conn.execute("select pg_advisory_xact_lock(hashtext('skills_pipeline.vault.keys'))")
    if conn.execute("select not exists (select from vault.pseudonym_keys)").fetchone()[0]:
        conn.execute(
            "insert into vault.pseudonym_keys (key_version, key_fingerprint) values (%s, %s)",
            (key.version, key.fingerprint),
        )
    row = conn.execute(
        "select key_fingerprint from vault.pseudonym_keys where key_version = %s", (key.version,)
    ).fetchone()
    if row is None:
        latest = conn.execute("select max(key_version) from vault.pseudonym_keys").fetchone()[0]
        raise PseudonymKeyError(
            f"{KEY_VERSION_ENV}={key.version} is not a key version of this vault (the latest is {latest}); nothing "
            "was written. A new key version is started only by the vault officer's `skills-pipeline vault rotate`, "
            "which re-keys every person; otherwise set the version back"
        )
    recorded = row[0]
    if recorded != key.fingerprint:
        raise PseudonymKeyError(
            f"{KEY_ENV} is not the key that version {key.version} was created with; nothing was written. "
            f"Use the original key, or rotate: set {KEY_VERSION_ENV} to a new version (see README, Deploy)"
        )


def record(conn: psycopg.Connection, key: PseudonymKey, id_numbers: list[str]) -> int:
    """Store the pseudonym of each ID number not yet in the vault for this key version; returns how many were new."""
    if not id_numbers:
        return 0
    conn.execute("create temporary table new_pseudonyms (id_number text, person_id text) on commit drop")
    with conn.cursor().copy("copy new_pseudonyms from stdin") as copy:
        for id_number in id_numbers:
            copy.write_row((id_number.strip().upper(), key.person_id(id_number)))
    inserted = conn.execute(
        "insert into vault.person_pseudonyms (id_number, key_version, person_id) "
        "select id_number, %s, person_id from new_pseudonyms on conflict do nothing",
        (key.version,),
    )
    return inserted.rowcount


@dataclass(frozen=True)
class Rotation:
    old_version: int
    new_version: int
    people: int


def rotate(conn: psycopg.Connection, current: PseudonymKey, new: PseudonymKey) -> Rotation:
    """Start key version `new`: record its fingerprint and give every person in the vault a pseudonym under it,
    beside the old one (approved settlement runs keep the pseudonyms they were frozen with; the vault maps both).
    One transaction: a failure leaves the vault as it was."""
    if len(new.secret) < MIN_KEY_BYTES:
        raise PseudonymKeyError(f"the new key is too short: use at least {MIN_KEY_BYTES} random characters")
    if new.secret == current.secret:
        raise PseudonymKeyError("the new key is the current key: generate a new secret for the new version")
    with conn.transaction():
        ensure_key_registered(conn, current)  # takes the key lock: no loader registers or checks meanwhile
        latest = conn.execute("select max(key_version) from vault.pseudonym_keys").fetchone()[0]
        if current.version != latest:
            raise PseudonymKeyError(
                f"the current key is version {current.version} but the vault's latest is {latest}: rotate from the "
                "latest version"
            )
        if new.version <= latest:
            raise PseudonymKeyError(f"the new version must be above {latest}")
        conn.execute(
            "insert into vault.pseudonym_keys (key_version, key_fingerprint) values (%s, %s)",
            (new.version, new.fingerprint),
        )
        ids = [row[0] for row in conn.execute(
            "select id_number from vault.person_pseudonyms where key_version = %s", (current.version,)
        )]  # fmt: skip
        conn.execute("create temporary table rekeyed (id_number text, person_id text) on commit drop")
        with conn.cursor().copy("copy rekeyed from stdin") as copy:
            for id_number in ids:
                copy.write_row((id_number, new.person_id(id_number)))
        conn.execute(
            "insert into vault.person_pseudonyms (id_number, key_version, person_id) "
            "select id_number, %s, person_id from rekeyed",
            (new.version,),
        )
    return Rotation(current.version, new.version, len(ids))
