"""Load a YAML config: parse with line numbers, expand secrets, validate.

Every problem found is collected, so `launchwatch validate` can print them
all at once. Each message reads ``FILE:LINE: PATH: what is wrong; the fix``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from launchwatch.monitor.checks import CheckDefinition, build_check
from launchwatch.monitor.config import Config
from launchwatch.monitor.logs import Redactor
from launchwatch.probes.registry import PROBE_KINDS

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_PREFIX = "file:"

Path_ = tuple[str | int, ...]


class ConfigError(Exception):
    """The config is invalid; `problems` lists every message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class LoadedConfig:
    config: Config
    checks: list[CheckDefinition]
    # Values that came from ${ENV} or file: references, to redact from output.
    secrets: set[str] = field(default_factory=set)


def load_config(path: str | os.PathLike[str], environ: dict[str, str] | None = None) -> LoadedConfig:
    """Load and validate a config file, raising ConfigError with every problem."""
    path = Path(path)
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: config file not found; pass an existing file with -c"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc}"]) from exc

    document = _parse_yaml(path, text)
    problems = document.problems
    secrets: set[str] = set()
    data = _expand_secrets(document.data, (), document, env, secrets, problems)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config must be a mapping with keys such as sites, storage and web"])

    config = _validate_config(data, document, problems)
    checks = _validate_checks(config, data, document, problems)
    problems.extend(_check_unique_names(data, document))
    problems.extend(_check_channel_references(data, document))
    problems.extend(_check_channel_urls(data, document))
    if problems:
        # A problem may quote a value that came from ${ENV} or file:.
        redact = Redactor(secrets)
        raise ConfigError([redact(problem) for problem in _by_line(problems)])
    assert config is not None
    return LoadedConfig(config=config, checks=checks, secrets=secrets)


@dataclass
class _Document:
    path: Path
    data: Any
    # YAML path -> 1-based line of the node, for error messages.
    lines: dict[Path_, int]
    problems: list[str]

    def where(self, loc: Path_) -> str:
        """Return ``FILE:LINE: PATH`` for the deepest located part of ``loc``."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                break
        else:
            line = 1
        return f"{self.path}:{line}: {format_path(loc) or '(top level)'}"


def format_path(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _parse_yaml(path: Path, text: str) -> _Document:
    document = _Document(path=path, data=None, lines={}, problems=[])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{path}:{line}: invalid YAML: {problem}; fix the syntax at that line"]) from exc
    if node is None:
        return document
    document.data = _construct(node, (), document)
    return document


def _construct(node: yaml.Node, loc: Path_, document: _Document) -> Any:
    """Build plain Python data from a YAML node, recording each node's line."""
    document.lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                document.problems.append(
                    f"{document.path}:{key_node.start_mark.line + 1}: {format_path(loc) or '(top level)'}: "
                    "a mapping key must be a plain value, not a list or mapping"
                )
                continue
            key = _scalar(key_node)
            if key in result:
                document.problems.append(
                    f"{document.path}:{key_node.start_mark.line + 1}: {format_path((*loc, str(key)))}: "
                    "duplicate key; keep only one of them"
                )
            result[key] = _construct(value_node, (*loc, str(key)), document)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, index), document) for index, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def _expand_secrets(
    value: Any, loc: Path_, document: _Document, env: Any, secrets: set[str], problems: list[str]
) -> Any:
    """Replace ``${VAR}`` with the variable's value and ``file:/path`` with the file's content."""
    if isinstance(value, dict):
        return {key: _expand_secrets(item, (*loc, key), document, env, secrets, problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand_secrets(item, (*loc, index), document, env, secrets, problems) for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value

    if value.startswith(_FILE_PREFIX):
        file_path = Path(value[len(_FILE_PREFIX) :])
        try:
            content = file_path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            problems.append(f"{document.where(loc)}: cannot read secret file {file_path}: {exc.strerror}; create it or fix the path")
            return value
        secrets.add(content)
        return content

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            problems.append(f"{document.where(loc)}: environment variable {name} is not set; export it or remove the reference")
            return ""
        secrets.add(env[name])
        return env[name]

    return _ENV_REFERENCE.sub(substitute, value)


def _validate_config(data: dict[str, Any], document: _Document, problems: list[str]) -> Config | None:
    # Options are validated per kind afterwards, with the kind's own model.
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems.extend(_describe_errors(exc, (), Config, document))
        return None


def _validate_checks(config: Config | None, data: dict[str, Any], document: _Document, problems: list[str]) -> list[CheckDefinition]:
    """Validate each check's options with its kind's model, from the raw data.

    Working from the raw data reports option mistakes even when another part
    of the config is invalid, so one run of `validate` lists everything.
    """
    checks = []
    sites = data.get("sites")
    for site_index, site in enumerate(sites if isinstance(sites, list) else []):
        raw_checks = site.get("checks") if isinstance(site, dict) else None
        for check_index, check in enumerate(raw_checks if isinstance(raw_checks, list) else []):
            if not isinstance(check, dict) or check.get("kind") not in PROBE_KINDS:
                continue
            model = PROBE_KINDS[check["kind"]].options_model
            loc: Path_ = ("sites", site_index, "checks", check_index, "options")
            try:
                options = model.model_validate(check.get("options") or {})
            except ValidationError as exc:
                problems.extend(_describe_errors(exc, loc, model, document))
                continue
            if config is not None:
                site_config = config.sites[site_index]
                checks.append(build_check(config, site_config, site_config.checks[check_index], options))
    return checks


def _entries(data: Any, *keys: str) -> list[tuple[int, dict[str, Any]]]:
    """Return the mapping entries of the list at ``data[keys...]``, with their indexes."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list):
        return []
    return [(index, item) for index, item in enumerate(data) if isinstance(item, dict)]


def _names(data: Any, *keys: str) -> list[str]:
    values = data
    for key in keys:
        values = values.get(key) if isinstance(values, dict) else None
    return [value for value in values if isinstance(value, str)] if isinstance(values, list) else []


def _check_unique_names(data: dict[str, Any], document: _Document) -> list[str]:
    problems = []

    def report_duplicates(entries: list[tuple[int, dict[str, Any]]], prefix: Path_, key: str, what: str, scope: str) -> None:
        kind = what.split()[0]
        first_line: dict[Any, int] = {}
        for index, entry in entries:
            name = entry.get(key)
            if not isinstance(name, str):
                continue
            loc = (*prefix, index, key)
            if name in first_line:
                problems.append(
                    f"{document.where(loc)}: {what} {name!r} appears twice{scope} (first at line {first_line[name]}); "
                    f"give each {kind} its own {what.split()[-1]}"
                )
            else:
                first_line[name] = document.lines.get(loc, 1)

    report_duplicates(_entries(data, "sites"), ("sites",), "name", "site name", "")
    report_duplicates(_entries(data, "channels"), ("channels",), "name", "channel name", "")
    for site_index, site in _entries(data, "sites"):
        scope = f" in site {site.get('name')!r}"
        report_duplicates(_entries(site, "checks"), ("sites", site_index, "checks"), "id", "check id", scope)
    return problems


def _check_channel_references(data: dict[str, Any], document: _Document) -> list[str]:
    names = [entry["name"] for _, entry in _entries(data, "channels") if isinstance(entry.get("name"), str)]
    references: list[tuple[Path_, list[str]]] = [
        (("alerts", "channels"), _names(data, "alerts", "channels")),
        (("alerts", "escalation", "channels"), _names(data, "alerts", "escalation", "channels")),
    ]
    for site_index, site in _entries(data, "sites"):
        references.append((("sites", site_index, "channels"), _names(site, "channels")))
        for check_index, check in _entries(site, "checks"):
            references.append((("sites", site_index, "checks", check_index, "channels"), _names(check, "channels")))

    problems = []
    for loc, channel_names in references:
        for index, name in enumerate(channel_names):
            if name not in names:
                defined = ", ".join(names) or "none yet"
                problems.append(f"{document.where((*loc, index))}: channel {name!r} is not defined; add it under channels (defined: {defined})")
    return problems


def _check_channel_urls(data: dict[str, Any], document: _Document) -> list[str]:
    from launchwatch.monitor.alerting.channels import apprise_url_problem

    problems = []
    for index, channel in _entries(data, "channels"):
        url = channel.get("url")
        if not isinstance(url, str):
            continue
        problem = apprise_url_problem(url)
        if problem:
            problems.append(f"{document.where(('channels', index, 'url'))}: the URL of channel {channel.get('name')!r} {problem}")
    return problems


_LINE = re.compile(r":(\d+): ")


def _by_line(problems: list[str]) -> list[str]:
    """Sort problems by their line number, keeping the order of problems on one line."""

    def line_of(problem: str) -> int:
        match = _LINE.search(problem)
        return int(match.group(1)) if match else 0

    return sorted(problems, key=line_of)


def _describe_errors(exc: ValidationError, prefix: Path_, model: type[BaseModel], document: _Document) -> list[str]:
    messages = []
    for error in exc.errors(include_url=False):
        loc: Path_ = (*prefix, *error["loc"])
        messages.append(f"{document.where(loc)}: {_explain(error, model, error['loc'])}")
    return messages


def _explain(error: Any, model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key {loc[-1]!r}; remove it or fix its spelling{hint}"
    if kind == "missing":
        return f"missing required key {loc[-1]!r}; add it"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    value = error.get("input")
    shown = _short_repr(value)
    return f"invalid value {shown}: {message[:1].lower()}{message[1:]}; fix the value"


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Walk the model along ``loc`` and return the keys allowed there."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field_info = current.model_fields.get(part)
        if field_info is None:
            return []
        current = _inner_model(field_info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    """Find the model inside ``list[Model]``, ``Model | None`` and the like."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        for arg in get_args(annotation):
            inner = _inner_model(arg)
            if inner is not None:
                return inner
    return None
