"""Pseudonymisation at load time: keyed, stable, checked before anything is written."""

import hashlib
import hmac

import pytest

from helpers import PERSON_ID, social_security_row, write_csv
from skills_pipeline.ingest import loader, pseudonyms

pytestmark = pytest.mark.integration


def test_each_loaded_person_gets_a_keyed_pseudonym(db, tmp_path, monkeypatch):
    write_csv(tmp_path, "social_security", [social_security_row(), social_security_row(insurance_type="310")])
    loader.ingest("social_security", __import__("helpers").DAY, landing_root=str(tmp_path))
    rows = db.execute("select id_number, key_version, person_id from vault.person_pseudonyms").fetchall()
    key = pseudonyms.load_key()
    expected = hmac.new(key.secret, PERSON_ID.encode(), hashlib.sha256).hexdigest()[:32]
    assert rows == [(PERSON_ID, 1, expected)]
    assert expected != hashlib.sha256(PERSON_ID.encode()).hexdigest()[:32]  # not an unkeyed, enumerable hash
    # The loader's insert made the same pseudonym in SQL for every row it wrote, and the rows' view shows it
    # without the ID number or the name.
    stored = db.execute("select distinct person_id, key_version from raw.social_security").fetchall()
    assert stored == [(expected, 1)]
    view = db.execute("select * from pseudonymised.social_security limit 1")
    shown = [column.name for column in view.description]
    assert "person_id" in shown and not {"id_number", "name"} & set(shown)
    attributes = db.execute(
        "select person_id, birth_date, gender, id_division_code from pseudonymised.person_attributes"
    )
    birth = f"{PERSON_ID[6:10]}-{PERSON_ID[10:12]}-{PERSON_ID[12:14]}"
    gender = "male" if int(PERSON_ID[16]) % 2 else "female"
    assert [(p, str(b), g, d) for p, b, g, d in attributes.fetchall()] == [(expected, birth, gender, PERSON_ID[:6])]


def test_the_sql_pseudonym_is_the_python_pseudonym_for_any_key_length(db):
    """The loader's SQL HMAC (core sha256 over the RFC 2104 pads) agrees with Python's hmac, including keys longer
    than SHA-256's 64-byte block, which RFC 2104 hashes first."""
    from psycopg import sql

    for secret in (b"k" * 32, b"a-key-of-exactly-sixty-four-bytes-" + b"x" * 30, "密钥".encode() * 20):
        key = pseudonyms.PseudonymKey(1, secret)
        expression = pseudonyms.sql_person_id(sql.Literal("14112519900101123X"))
        (made,) = db.execute(sql.SQL("select {}").format(expression), key.sql_parameters()).fetchone()
        assert made == key.person_id("14112519900101123X"), secret


def test_a_missing_key_stops_before_anything_is_written(db, tmp_path, monkeypatch):
    monkeypatch.delenv(pseudonyms.KEY_ENV)
    write_csv(tmp_path, "social_security", [social_security_row()])
    with pytest.raises(pseudonyms.PseudonymKeyError, match="no pseudonymisation key"):
        loader.ingest("social_security", __import__("helpers").DAY, landing_root=str(tmp_path))
    assert db.execute("select count(*) from pg_namespace where nspname in ('raw', 'ingest')").fetchone()[0] == 0


def test_a_wrong_key_for_a_recorded_version_is_refused(db, tmp_path, monkeypatch):
    write_csv(tmp_path, "social_security", [social_security_row()])
    day = __import__("helpers").DAY
    loader.ingest("social_security", day, landing_root=str(tmp_path))
    monkeypatch.setenv(pseudonyms.KEY_ENV, "another-key-" + "f" * 40)
    write_csv(tmp_path, "social_security", [social_security_row(insurance_type="410")], name="b.csv")
    with pytest.raises(pseudonyms.PseudonymKeyError, match="not the key that version 1"):
        loader.ingest("social_security", day, landing_root=str(tmp_path))
    assert db.execute("select count(*) from ingest.load_ledger").fetchone()[0] == 1


def test_a_new_key_version_in_the_environment_alone_stops_the_load(db, tmp_path, monkeypatch):
    day = __import__("helpers").DAY
    write_csv(tmp_path, "social_security", [social_security_row()])
    loader.ingest("social_security", day, landing_root=str(tmp_path))
    monkeypatch.setenv(pseudonyms.KEY_ENV, "another-key-" + "f" * 40)
    monkeypatch.setenv(pseudonyms.KEY_VERSION_ENV, "2")
    write_csv(tmp_path, "social_security", [social_security_row(insurance_type="410")], name="b.csv")
    with pytest.raises(pseudonyms.PseudonymKeyError, match="only by the vault officer's"):
        loader.ingest("social_security", day, landing_root=str(tmp_path))
    assert db.execute("select key_version from vault.pseudonym_keys").fetchall() == [(1,)]
    assert db.execute("select count(*) from ingest.load_ledger").fetchone()[0] == 1
