"""Config loading: every kind of mistake is reported with its line, path and fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from launchwatch.monitor.configfile import ConfigError, load_config

VALID = """\
storage:
  url: sqlite:///{tmp}/lw.db
web:
  listen: 127.0.0.1:0
defaults:
  interval: 30s
  timeout: 5s
sites:
  - name: app
    base_url: https://app.example.test
    resolve:
      app.example.test: 127.0.0.1
    headers:
      Authorization: Bearer ${{APP_TOKEN}}
    checks:
      - id: home
        name: Home page
        kind: http
        interval: 1m
        failure_threshold: 3
        options:
          path: /
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "launchwatch.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={} if environ is None else environ)
    return [problem.removeprefix(f"{path}:") for problem in raised.value.problems]


def test_valid_config_merges_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.format(tmp=tmp_path))

    loaded = load_config(path, environ={"APP_TOKEN": "s3cret-token"})

    (check,) = loaded.checks
    assert check.id == "app/home"
    assert check.name == "Home page"
    assert check.interval_s == 60.0
    assert check.timeout_s == 5.0
    assert check.failure_threshold == 3
    assert check.success_threshold == 1
    assert check.target.resolve == {"app.example.test": "127.0.0.1"}
    assert check.target.headers["Authorization"] == "Bearer s3cret-token"
    assert loaded.secrets == {"s3cret-token"}


def test_secret_from_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-file\n", encoding="utf-8")
    text = VALID.format(tmp=tmp_path).replace("Bearer ${APP_TOKEN}", f"file:{secret_file}")

    loaded = load_config(write(tmp_path, text), environ={})

    assert loaded.checks[0].target.headers["Authorization"] == "from-a-file"
    assert "from-a-file" in loaded.secrets


def test_check_name_defaults_to_id(tmp_path: Path) -> None:
    text = VALID.format(tmp=tmp_path).replace("        name: Home page\n", "")

    loaded = load_config(write(tmp_path, text), environ={"APP_TOKEN": "x"})

    assert loaded.checks[0].name == "home"


# Each case: a mistake in an otherwise valid config, and the exact message.
MISTAKES = [
    pytest.param(
        ("interval: 30s", "intervall: 30s"),
        "6: defaults.intervall: unknown key 'intervall'; remove it or fix its spelling "
        "(allowed: failure_threshold, interval, jitter, severity, success_threshold, timeout)",
        id="unknown-key",
    ),
    pytest.param(
        ("interval: 1m", "interval: soon"),
        "19: sites[0].checks[0].interval: invalid duration 'soon'; write a number of seconds or a duration like 30s, 5m or 1h",
        id="bad-duration",
    ),
    pytest.param(
        ("kind: http", "kind: htp"),
        "18: sites[0].checks[0].kind: unknown probe kind 'htp'; use one of: http, redirects, tls",
        id="unknown-kind",
    ),
    pytest.param(
        ("- id: home", "- id: Home Page"),
        "16: sites[0].checks[0].id: invalid check id 'Home Page'; use 1 to 64 lowercase letters, digits, '.', '_' or '-', "
        "starting with a letter or digit (the id keeps the check's history, so pick it once)",
        id="bad-check-id",
    ),
    pytest.param(
        ("failure_threshold: 3", "failure_threshold: 0"),
        "20: sites[0].checks[0].failure_threshold: invalid value 0: input should be greater than or equal to 1; fix the value",
        id="threshold-out-of-range",
    ),
    pytest.param(
        ("base_url: https://app.example.test", "base_url: app.example.test"),
        "10: sites[0].base_url: invalid base_url 'app.example.test'; write an absolute http:// or https:// URL such as https://app.example.com",
        id="relative-base-url",
    ),
    pytest.param(
        ("app.example.test: 127.0.0.1", "app.example.test: localhost"),
        "12: sites[0].resolve: resolve maps 'app.example.test' to 'localhost', which is not an IP address; "
        "write an IPv4 or IPv6 address such as 127.0.0.1",
        id="resolve-not-ip",
    ),
    pytest.param(
        ("listen: 127.0.0.1:0", "listen: everywhere"),
        "4: web.listen: invalid listen address 'everywhere'; write host:port such as 127.0.0.1:8080 or [::1]:8080",
        id="bad-listen",
    ),
    pytest.param(
        ("interval: 1m", "interval: 200ms"),
        "19: sites[0].checks[0].interval: interval 0.2 s is too short; use at least 1s",
        id="interval-too-short",
    ),
    pytest.param(
        ("timeout: 5s", "timeout: 0"),
        "7: defaults.timeout: timeout must be more than 0 s; write a duration such as 10s",
        id="zero-timeout",
    ),
    pytest.param(
        ("base_url: https://app.example.test", "base_url: https://app.example.test:99999"),
        "10: sites[0].base_url: invalid port in base_url 'https://app.example.test:99999'; use a port from 1 to 65535",
        id="base-url-port-out-of-range",
    ),
    pytest.param(
        ("url: sqlite:///", "url: mysql:///"),
        None,
        id="unsupported-storage",
    ),
    pytest.param(
        ("          path: /", "          path: /\n          colour: red"),
        "23: sites[0].checks[0].options.colour: unknown key 'colour'; remove it or fix its spelling",
        id="unknown-option",
    ),
    pytest.param(
        ("        kind: http\n", ""),
        "16: sites[0].checks[0].kind: missing required key 'kind'; add it",
        id="missing-kind",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), MISTAKES)
def test_config_mistake_reported(tmp_path: Path, edit: tuple[str, str], expected: str | None) -> None:
    old, new = edit
    text = VALID.format(tmp=tmp_path)
    assert old in text
    problems = problems_of(tmp_path, text.replace(old, new, 1), environ={"APP_TOKEN": "x"})

    if expected is None:
        assert len(problems) == 1
        assert "unsupported storage URL 'mysql:///" in problems[0]
    else:
        assert len(problems) == 1, problems
        assert problems[0].startswith(expected), problems[0]


def test_ca_file_checked_at_load(tmp_path: Path) -> None:
    not_pem = tmp_path / "not-a-bundle.pem"
    not_pem.write_text("hello\n", encoding="utf-8")

    missing = problems_of(tmp_path, f"ca_file: {tmp_path}/absent.pem\nsites: []\n")
    garbage = problems_of(tmp_path, f"ca_file: {not_pem}\nsites: []\n")

    assert missing == [f"1: ca_file: ca_file '{tmp_path}/absent.pem' not found; write the path of a PEM file with the CA certificates to trust"]
    assert len(garbage) == 1
    assert garbage[0].startswith(f"1: ca_file: ca_file '{not_pem}' is not a PEM bundle of CA certificates OpenSSL can load (")
    assert garbage[0].endswith("); check the file")


def test_missing_env_variable_named(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, VALID.format(tmp=tmp_path))

    assert problems == ["14: sites[0].headers.Authorization: environment variable APP_TOKEN is not set; export it or remove the reference"]


def test_missing_secret_file_named(tmp_path: Path) -> None:
    text = VALID.format(tmp=tmp_path).replace("Bearer ${APP_TOKEN}", f"file:{tmp_path}/absent")

    problems = problems_of(tmp_path, text)

    assert problems == [
        f"14: sites[0].headers.Authorization: cannot read secret file {tmp_path}/absent: No such file or directory; create it or fix the path"
    ]


def test_layered_problems_reported_in_one_run(tmp_path: Path) -> None:
    text = """\
channels:
  - name: ops
    url: json://127.0.0.1:9/hook
  - name: ops
    url: slack://bad
alerts:
  channels: [pager]
defaults:
  interval: never
sites:
  - name: app
    base_url: http://a.test
  - name: app
    base_url: http://b.test
"""

    problems = problems_of(tmp_path, text)

    assert [problem.split(":")[0] for problem in problems] == ["4", "5", "7", "9", "13"]
    assert "channel name 'ops' appears twice (first at line 2)" in problems[0]
    assert "the URL of channel 'ops' is not a valid apprise URL" in problems[1]
    assert "channel 'pager' is not defined" in problems[2]
    assert "invalid duration 'never'" in problems[3]
    assert "site name 'app' appears twice (first at line 11)" in problems[4]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = (
        VALID.format(tmp=tmp_path)
        .replace("interval: 30s", "interval: never")
        .replace("listen: 127.0.0.1:0", "listne: 127.0.0.1:0")
        .replace("          path: /", "          path: /\n          colour: red")
    )

    problems = problems_of(tmp_path, text, environ={"APP_TOKEN": "x"})

    assert len(problems) == 3
    assert problems[0].startswith("4: web.listne: unknown key")
    assert problems[1].startswith("6: defaults.interval: invalid duration 'never'")
    assert problems[2].startswith("23: sites[0].checks[0].options.colour: unknown key")


def test_duplicate_yaml_key_reported(tmp_path: Path) -> None:
    text = VALID.format(tmp=tmp_path).replace("  timeout: 5s\n", "  timeout: 5s\n  timeout: 6s\n")

    problems = problems_of(tmp_path, text, environ={"APP_TOKEN": "x"})

    assert problems == ["8: defaults.timeout: duplicate key; keep only one of them"]


def test_duplicate_check_id_reported(tmp_path: Path) -> None:
    text = VALID.format(tmp=tmp_path) + "      - id: home\n        kind: http\n"

    problems = problems_of(tmp_path, text, environ={"APP_TOKEN": "x"})

    assert problems == ["23: sites[0].checks[1].id: check id 'home' appears twice in site 'app' (first at line 16); give each check its own id"]


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "sites:\n  - name: app\n    base_url: [unclosed\n")

    assert len(problems) == 1
    assert problems[0].startswith("4: invalid YAML: ")
    assert problems[0].endswith("; fix the syntax at that line")


def test_missing_file_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "absent.yaml", environ={})

    assert raised.value.problems == [f"{tmp_path}/absent.yaml: config file not found; pass an existing file with -c"]


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "- just\n- a list\n")

    assert problems == ["1: the config must be a mapping with keys such as sites, storage and web"]


ALERTING_MISTAKES = [
    pytest.param(
        "maintenance:\n  - name: nightly\n    cron: '0 3 * * *'\n",
        "2: maintenance[0]: maintenance window 'nightly' needs both cron and duration, e.g. cron: '0 3 * * sun' and duration: 1h",
        id="cron-without-duration",
    ),
    pytest.param(
        "maintenance:\n  - name: nightly\n    cron: '0 25 * * *'\n    duration: 1h\n",
        "2: maintenance[0]: maintenance window 'nightly' has an invalid cron expression '0 25 * * *'",
        id="cron-invalid",
    ),
    pytest.param(
        "maintenance:\n  - name: once\n    start: 2026-12-05T02:00:00Z\n    end: 2026-12-05T01:00:00Z\n",
        "2: maintenance[0]: maintenance window 'once' ends before it starts; put end after start",
        id="window-backwards",
    ),
    pytest.param(
        "alerts:\n  reminder_interval: 30s\n",
        "2: alerts.reminder_interval: reminder_interval 30 s is too short; use at least 1m, or leave it unset for no reminders",
        id="reminder-too-often",
    ),
    pytest.param(
        "alerts:\n  channels: [pager]\n",
        "2: alerts.channels[0]: channel 'pager' is not defined; add it under channels (defined: none yet)",
        id="unknown-channel",
    ),
    pytest.param(
        "channels:\n  - name: ops\n    url: slack://too-short\n",
        "3: channels[0].url: the URL of channel 'ops' is not a valid apprise URL for scheme slack://",
        id="bad-apprise-url",
    ),
    pytest.param(
        "web:\n  links:\n    Runbook: javascript:alert(1)\n",
        "3: web.links: link 'Runbook' points to 'javascript:alert(1)'; write an absolute http:// or https:// URL",
        id="link-not-http",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ALERTING_MISTAKES)
def test_alerting_mistake_reported(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(tmp_path, text + "sites: []\n")

    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_channel_url_secret_not_in_error(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, "channels:\n  - name: ops\n    url: slack://${SLACK}\nsites: []\n", environ={"SLACK": "abc-secret-123"})

    assert len(problems) == 1
    assert "abc-secret-123" not in problems[0]


def test_secret_redacted_from_problems(tmp_path: Path) -> None:
    text = "storage:\n  url: mysql://lw:${DB_PASSWORD}@db.internal/lw\nsites: []\n"

    problems = problems_of(tmp_path, text, environ={"DB_PASSWORD": "S3cretPassw0rd"})

    assert len(problems) == 1
    assert "S3cretPassw0rd" not in problems[0]
    assert "mysql://lw:[redacted]@db.internal/lw" in problems[0]
