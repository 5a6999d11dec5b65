"""The lookups' connection settings: the API's libpq URL, as asyncpg takes it (delivery/lookups.py)."""

from skills_pipeline.delivery import lookups


def test_a_libpq_url_becomes_asyncpg_keywords():
    arguments = lookups.connect_arguments(
        "postgresql://api_svc:s3cret@/warehouse?host=/run/postgresql&port=5433&sslmode=require"
        "&connect_timeout=3&options=-c%20statement_timeout%3D5s%20-c%20search_path%3Ddelivery"
    )
    assert arguments == {
        "host": "/run/postgresql",
        "port": 5433,
        "user": "api_svc",
        "password": "s3cret",
        "database": "warehouse",
        "ssl": "require",
        "timeout": 3.0,
        "server_settings": {
            "application_name": lookups.APPLICATION_NAME,
            "statement_timeout": "5s",
            "search_path": "delivery",
        },
    }


def test_a_keyword_conninfo_keeps_its_application_name_and_the_role_is_the_lookups():
    arguments = lookups.connect_arguments("host=127.0.0.1 dbname=w user=u application_name=card-api")
    assert arguments["server_settings"] == {"application_name": "card-api"}
    assert lookups.CoalescedLookups("host=127.0.0.1 dbname=w", "archive_reader")._arguments["server_settings"] == {
        "application_name": lookups.APPLICATION_NAME,
        "role": "archive_reader",
    }
