"""``callcenter users add|list`` against a SQLite store."""

from __future__ import annotations

import io

import pytest

from callcenter.users import main_users
from crm_store import Store, make_engine


def run(argv, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    code = main_users(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/crm.db"


def test_add_creates_an_account_that_signs_in_and_list_shows_it(db):
    code, out, err = run(["--db", db, "add", "ana", "--role", "agent", "--extension", "1001",
                          "--skills", "support:4,lang_es:5", "--name", "Ana Ruiz",
                          "--password-stdin"], "a long secret\n")
    assert (code, err) == (0, "")
    assert out == "added ana (agent) with id 1\n"
    store = Store(make_engine(db))
    record = store.authenticate("ana", "a long secret")
    assert (record.extension, record.skills, record.display_name) == (
        "1001", "lang_es:5,support:4", "Ana Ruiz")
    store.engine.dispose()
    code, out, _ = run(["--db", db, "list"])
    assert code == 0 and "ana" in out and "lang_es:5,support:4" in out
    assert "a long secret" not in out


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["add", "ana", "--password-stdin"], "short\n", "at least 8 characters"),
        (["add", "ana", "--skills", "support:7", "--password-stdin"], "a long secret\n",
         "between 1 and 5"),
        (["add", "two words", "--password-stdin"], "a long secret\n", "no spaces"),
    ],
)
def test_bad_input_is_refused_with_a_reason_and_no_account(db, argv, stdin, message):
    code, _out, err = run(["--db", db, *argv], stdin)
    assert code == 1 and message in err
    assert "secret" not in err
    assert run(["--db", db, "list"])[1].count("\n") == 1  # the header only


def test_taken_username_is_refused(db):
    assert run(["--db", db, "add", "ana", "--password-stdin"], "a long secret\n")[0] == 0
    code, _out, err = run(["--db", db, "add", "ana", "--role", "admin", "--password-stdin"],
                          "another secret\n")
    assert code == 1 and "'ana' is taken" in err


def test_unknown_role_is_a_usage_error(db):
    assert run(["--db", db, "add", "ana", "--role", "root", "--password-stdin"], "x" * 9)[0] == 2
