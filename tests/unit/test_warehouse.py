from skills_pipeline.warehouse import redacted, sqlalchemy_url


def test_passwords_are_masked_for_printing():
    assert redacted("postgresql://skills:s3cret@db:5432/skills") == "postgresql://skills:***@db:5432/skills"
    assert redacted("postgresql://postgres:@/postgres?host=/tmp/x") == "postgresql://postgres:***@/postgres?host=/tmp/x"
    assert redacted("postgresql://db/skills") == "postgresql://db/skills"


def test_sqlalchemy_url_uses_psycopg3():
    assert sqlalchemy_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
