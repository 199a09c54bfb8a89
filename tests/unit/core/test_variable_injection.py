"""Issue 11 item 8: variable values cannot inject SQL, KEY=value lines or my.cnf options.

Two walls, each tested on its own: validation refuses control characters in every variable
(from --set, answers, state, prompt) and keeps secrets to the generator's alphabet; the
templates' filters quote or refuse whatever reaches them.
"""

from __future__ import annotations

import pytest
import yaml

from installer.deploy.render import Renderer
from installer.deploy.variables import resolve, validate
from installer.errors import SpecError, UsageError
from installer.spec.model import Variable
from tests.unit.source_bundle import source_bundle

SOURCE = source_bundle()
SPECS = SOURCE.specs
RENDERER = Renderer(SOURCE.templates)
GOOD_PW = "Abcdefgh12345678Abcdefgh12345678"

# what a user might type, and the control characters that would start a new line or statement
INJECTIONS = {
    "newline": "x';\nGRANT ALL ON *.* TO 'face'@'%' WITH GRANT OPTION; -- ",
    "trailing newline": "face\n",
    "carriage return": "face\rLICENSE_SERVER_HOST=198.51.100.9",
    "NUL": "face\x00",
    "DEL": "face\x7f",
    "C1 next-line": "face\x85x",
    "line separator": "face\u2028LICENSE_SERVER_HOST=x",
    "tab": "fa\tce",
}


class Facts:
    lan_ip = "192.0.2.10"


def resolve_all(**kw):
    specs = [SPECS[n] for n in ("license-server", "mysql", "face-server")]
    args = dict(overrides={}, answers={}, remembered={}, prompter=None)
    args.update(kw)
    return resolve(
        specs,
        default_context=lambda spec: {"network": spec.network, "facts": Facts()},
        render_default=RENDERER.render_string,
        **args,
    )


def one_line_usage(exc: pytest.ExceptionInfo) -> str:
    assert isinstance(exc.value, UsageError) and exc.value.exit_code == 2
    text = str(exc.value)
    assert "\n" not in text
    return text


# -- validation: every source, every kind of variable -----------------------------------


@pytest.mark.parametrize("what", sorted(INJECTIONS))
@pytest.mark.parametrize("name", ["mysql_user", "mysql_database", "mysql_host", "http_port"])
def test_control_characters_refused_in_every_variable_from_set(name, what):
    with pytest.raises(UsageError) as exc:
        resolve_all(overrides={name: INJECTIONS[what]})
    msg = one_line_usage(exc)
    assert msg.startswith(f"variable {name}: ") and "from --set" in msg


@pytest.mark.parametrize(
    "source,kw",
    [
        ("--set", lambda v: {"overrides": {"mysql_user": v}}),
        ("the answers file", lambda v: {"answers": {"mysql_user": v}}),
        ("the installed state", lambda v: {"remembered": {"mysql_user": v}}),
        ("the prompt", lambda v: {"prompter": lambda var, default: v}),
    ],
)
def test_newline_refused_from_every_source(source, kw):
    value = "face\nLICENSE_SERVER_HOST=198.51.100.9"
    if source == "the prompt":  # only prompted variables are asked: mysql_host is one
        with pytest.raises(UsageError) as exc:
            resolve_all(**kw(value))
        msg = one_line_usage(exc)
        assert msg.startswith("variable mysql_bind_address: control character U+000A")
        return
    with pytest.raises(UsageError) as exc:
        resolve_all(**kw(value))
    msg = one_line_usage(exc)
    assert msg.startswith("variable mysql_user: control character U+000A")
    assert f"from {source}" in msg


def test_answers_file_block_scalar_with_trailing_newline_is_refused():
    answers = yaml.safe_load("mysql_user: |\n  face\n")
    assert answers["mysql_user"] == "face\n"
    with pytest.raises(UsageError, match="variable mysql_user: control character U\\+000A"):
        resolve_all(answers=answers)


def test_pattern_is_a_full_match_a_trailing_newline_no_longer_slips_through():
    var = Variable("mysql_user", pattern="^[A-Za-z0-9_]{1,32}$")
    # the old re.match("^...$") accepted "face\n"; the control-character rule now refuses it
    # first, and the pattern itself is matched whole
    with pytest.raises(UsageError, match="control character U\\+000A"):
        validate(var, "face\n", "--set")
    loose = Variable("x", pattern="[a-z]+")  # a pattern written without anchors
    with pytest.raises(UsageError, match="'abc1' does not match"):
        validate(loose, "abc1", "--set")
    assert validate(loose, "abc", "--set") == "abc"


@pytest.mark.parametrize(
    "value",
    [
        "pw'; GRANT ALL ON *.* TO 'face'@'%' WITH GRANT OPTION; -- xxxx",
        'quote"double-and-long-enough',
        "back\\slash-and-long-enough-xx",
        "with spaces and long enough xx",
        "short1",
        "x" * 129,
        "pässwordpässwordpässword",
    ],
)
def test_user_secret_outside_the_generator_alphabet_is_refused_without_showing_it(value):
    with pytest.raises(UsageError) as exc:
        resolve_all(overrides={"mysql_password": value})
    msg = one_line_usage(exc)
    assert msg.startswith("variable mysql_password: a secret must be 16-128 letters and digits")
    assert value not in msg


def test_secret_with_newline_names_the_variable_not_the_value():
    with pytest.raises(UsageError) as exc:
        resolve_all(answers={"mysql_root_password": GOOD_PW + "\n"})
    msg = one_line_usage(exc)
    assert msg.startswith("variable mysql_root_password: control character U+000A")
    assert GOOD_PW not in msg


def test_remembered_secret_outside_the_alphabet_is_refused():
    with pytest.raises(UsageError, match="from the installed state"):
        resolve_all(remembered={"mysql_password": "it's-a-long-enough-password"})


def test_valid_user_secret_and_generated_secrets_pass():
    r = resolve_all(overrides={"mysql_password": GOOD_PW})
    assert r.values["mysql_password"] == GOOD_PW
    assert r.values["mysql_root_password"].isalnum()
    again = resolve_all(remembered=r.values)  # generated values pass their own check
    assert again.values == r.values


def test_short_generator_sets_the_shortest_accepted_secret():
    var = Variable("token", secret=True, generate=8)
    assert validate(var, "abcd1234", "--set") == "abcd1234"
    with pytest.raises(UsageError, match="8-128 letters and digits"):
        validate(var, "abc123", "--set")


# -- the filters, on their own -------------------------------------------------------------


def render(text: str, **ctx) -> str:
    return RENDERER.render_string(text, ctx, "test")


@pytest.mark.parametrize(
    "value,expected",
    [
        ("plain", "'plain'"),
        ("it's", "'it''s'"),
        ("a\\'b", "'a\\\\''b'"),  # a backslash cannot escape the doubled quote
        ("x'); DROP DATABASE face; --", "'x''); DROP DATABASE face; --'"),
        ('"dq"', "'\"dq\"'"),
    ],
)
def test_sql_string(value, expected):
    assert render("{{ v | sql_string }}", v=value) == expected


def test_sql_ident():
    assert render("{{ v | sql_ident }}", v="face") == "`face`"
    assert render("{{ v | sql_ident }}", v="a`b") == "`a``b`"
    with pytest.raises(SpecError, match="1 to 64 characters"):
        render("{{ v | sql_ident }}", v="x" * 65)


def test_conf_value():
    assert render("K={{ v | conf_value }}", v="p=w#1") == "K=p=w#1"
    assert render("K={{ v | conf_value }}", v="") == "K="
    with pytest.raises(SpecError, match="starts or ends with a blank"):
        render("K={{ v | conf_value }}", v=" x")


def test_cnf_value():
    assert render("{{ v | cnf_value }}", v="0.0.0.0") == "0.0.0.0"
    for bad in ("1.2.3.4 # c", "a\\b", "'q'", '"q"', "a;b"):
        with pytest.raises(SpecError, match="my.cnf option: it holds"):
            render("{{ v | cnf_value }}", v=bad)
    with pytest.raises(SpecError, match="empty or starts or ends with a blank"):
        render("{{ v | cnf_value }}", v="")


def test_yaml_string_round_trips_through_a_yaml_parser():
    for value in ("plain", "yes", "1.0", 'q"uote', "back\\slash", "# not a comment", "a: b"):
        text = render("k: {{ v | yaml_string }}", v=value)
        assert yaml.safe_load(text) == {"k": value}


@pytest.mark.parametrize(
    "filt", ["sql_string", "sql_ident", "conf_value", "cnf_value", "yaml_string"]
)
@pytest.mark.parametrize("what", ["newline", "trailing newline", "carriage return", "NUL", "DEL"])
def test_every_filter_refuses_control_characters_without_showing_the_value(filt, what):
    value = INJECTIONS[what]
    with pytest.raises(SpecError) as exc:
        render("{{ v | " + filt + " }}", v=value)
    msg = str(exc.value)
    assert "control character U+" in msg and "\n" not in msg and value not in msg


# -- the bundle's templates use them ------------------------------------------------------


def context(**values):
    base = resolve_all(overrides={"mysql_password": GOOD_PW}).values
    return {**base, "ports": {"http": 8300}, "instance": 0, "gpu": "", **values}


def test_init_sql_quotes_every_value():
    text = RENDERER.render_file(
        "mysql/init.sql.j2", context(mysql_user="o'brien", mysql_database="fa`ce")
    )
    assert "CREATE USER IF NOT EXISTS 'o''brien'@'%' IDENTIFIED BY 'Abcdefgh" in text
    assert "GRANT ALL PRIVILEGES ON `fa``ce`.* TO 'o''brien'@'%';" in text
    assert "WITH GRANT OPTION" not in text


def test_templates_refuse_a_value_that_slipped_past_validation():
    """If validation were ever bypassed, the filters still refuse: no extra GRANT, no extra
    LICENSE_SERVER_HOST line, no skip-grant-tables option."""
    with pytest.raises(SpecError, match="templates/mysql/init.sql.j2: .*SQL string"):
        RENDERER.render_file("mysql/init.sql.j2", context(mysql_password=INJECTIONS["newline"]))
    with pytest.raises(SpecError, match="templates/face-server/service.conf.j2: .*KEY=value"):
        RENDERER.render_file(
            "face-server/service.conf.j2", context(mysql_password=INJECTIONS["carriage return"])
        )
    with pytest.raises(SpecError, match="templates/mysql/my.cnf.j2: .*my.cnf option"):
        RENDERER.render_file(
            "mysql/my.cnf.j2", context(mysql_bind_address="0.0.0.0\nskip-grant-tables")
        )


def test_service_conf_unchanged_for_valid_values():
    text = RENDERER.render_file("face-server/service.conf.j2", context())
    assert f"MYSQL_SVC_PASSWORD={GOOD_PW}\n" in text
    assert text.count("LICENSE_SERVER_HOST=") == 1 and "GPU_ID=\n" in text
