"""Keyed pseudonyms for people: person_id = HMAC-SHA256(secret key, normalised ID number).

An unkeyed hash of an 18-character ID is not a pseudonym: the ID space (division x birth date x sequence) is
small enough to enumerate in hours. The key lives outside the repository (SKILLS_PSEUDONYM_KEY, or the file named
by SKILLS_PSEUDONYM_KEY_FILE, or an Airflow connection exported into the environment); each key version's
fingerprint is stored in the vault so a run with the wrong key stops before it writes anything.

Pseudonyms are made at load time: each raw row is written with its person's pseudonym (sql_person_id), and the vault
records which ID number each pseudonym stands for. The models read the rows through pseudonymised.<feed>, which
leaves the ID number and the name out, and the attributes an ID reveals from pseudonymised.person_attributes: the
transformer never reads an ID number (migration 013).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

KEY_ENV = "SKILLS_PSEUDONYM_KEY"
KEY_FILE_ENV = "SKILLS_PSEUDONYM_KEY_FILE"
KEY_VERSION_ENV = "SKILLS_PSEUDONYM_KEY_VERSION"
MIN_KEY_BYTES = 32
FINGERPRINT_PROBE = b"skills-pipeline key fingerprint v1"
HMAC_BLOCK_BYTES = 64  # SHA-256's block (RFC 2104)


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

    def sql_parameters(self) -> dict[str, bytes]:
        """The bind parameters of sql_person_id: the key's inner and outer HMAC pads (RFC 2104)."""
        block = self.secret if len(self.secret) <= HMAC_BLOCK_BYTES else hashlib.sha256(self.secret).digest()
        block = block.ljust(HMAC_BLOCK_BYTES, b"\0")
        return {
            "pseudonym_inner_pad": bytes(b ^ 0x36 for b in block),
            "pseudonym_outer_pad": bytes(b ^ 0x5C for b in block),
        }


def sql_person_id(id_number: sql.Composable) -> sql.Composable:
    """person_id() computed by PostgreSQL from an ID-number expression already trimmed and upper-cased: HMAC-SHA256
    spelled with the core sha256() function, so that the loader's insert into raw pseudonymises every row in the
    statement that writes it (no second pass, no extension). The key travels only as the bind parameters of
    PseudonymKey.sql_parameters, never in the statement's text, which is what a server logs on an error."""
    return sql.SQL(
        "left(encode(sha256(%(pseudonym_outer_pad)s::bytea || sha256(%(pseudonym_inner_pad)s::bytea || "
        "convert_to({}, 'UTF8'))), 'hex'), 32)"
    ).format(id_number)


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
    # The people new to the vault get their attributes in the same statement (a data-modifying CTE).
    inserted = conn.execute(
        sql.SQL(
            "with new_people as (insert into vault.person_pseudonyms (id_number, key_version, person_id) "
            "select id_number, %(version)s, person_id from new_pseudonyms on conflict do nothing "
            "returning id_number, person_id) {}"
        ).format(_attributes_insert("new_people")),
        {"version": key.version},
    )
    return inserted.rowcount


def _attributes_insert(pseudonyms: str) -> sql.Composable:
    """The insert of what the ID numbers in `pseudonyms` (id_number, person_id; checked by stdnum) reveal outside the
    vault, under key version %(version)s: birth date, gender (the 17th character's parity), the division prefix."""
    return sql.SQL(
        "insert into pseudonymised.person_attributes (key_version, person_id, birth_date, gender, id_division_code) "
        "select %(version)s, person_id, to_date(substring(id_number from 7 for 8), 'YYYYMMDD'), "
        "case when substring(id_number from 17 for 1)::integer %% 2 = 1 then 'male' else 'female' end, "
        "left(id_number, 6) from {} on conflict do nothing"
    ).format(sql.Identifier(pseudonyms))


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
        conn.execute(_attributes_insert("rekeyed"), {"version": new.version})
        # Every older version's pseudonym <-> the new one: rows loaded before tonight keep the pseudonym they were
        # written with, and reach the marts under whichever version dbt uses.
        conn.execute(
            "insert into pseudonymised.pseudonym_links (from_version, from_person_id, to_version, to_person_id) "
            "select older.key_version, older.person_id, %(new)s, rekeyed.person_id "
            "from rekeyed inner join vault.person_pseudonyms as older using (id_number) "
            "where older.key_version <> %(new)s "
            "union all "
            "select %(new)s, rekeyed.person_id, older.key_version, older.person_id "
            "from rekeyed inner join vault.person_pseudonyms as older using (id_number) "
            "where older.key_version <> %(new)s",
            {"new": new.version},
        )
    return Rotation(current.version, new.version, len(ids))
