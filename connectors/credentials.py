"""Which channels are on: those whose environment variables are all set.

credentials.yml names each channel's settings with `${VAR}` placeholders,
which Rasa fills from the environment when it reads the file; it fails on an
unset one. So the file is filtered first: a channel is kept only if every
`${VAR}` it uses is set (and not empty); channels without placeholders (rest)
are always kept. Placeholders stay in the written file for Rasa to fill, so it
holds no secret.

`${VAR:-default}` marks an optional setting (Rasa itself does not know this
form): written as `${VAR}` when VAR is set, as `default` when it is not, and
left out when it is not and the default is empty.

Usage: python -m connectors.credentials credentials.yml build/credentials.yml
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}")
_DROP = object()
_HEADER = ("# Written by connectors.credentials from {source}: the channels whose\n"
           "# environment variables are set. Rasa fills in the ${{VAR}} placeholders.\n")


def _is_set(env: Mapping[str, str], name: str) -> bool:
    """Whether `name` is set to something other than blanks."""
    return bool((env.get(name) or "").strip())


def missing_variables(settings: Any, env: Mapping[str, str]) -> List[str]:
    """The required `${VAR}` names in a channel's settings that `env` leaves unset.

    Args:
        settings: A channel's settings (any YAML value).
        env: The environment.

    Returns:
        The unset names, in order of appearance, each once.
    """
    missing: List[str] = []
    for value in _strings(settings):
        for match in _PLACEHOLDER.finditer(value):
            name, optional = match.group(1), match.group(2) is not None
            if not optional and not _is_set(env, name) and name not in missing:
                missing.append(name)
    return missing


def _strings(value: Any) -> List[str]:
    """Every string inside a YAML value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _resolve_optional(value: Any, env: Mapping[str, str]) -> Any:
    """Rewrites `${VAR:-default}` as `${VAR}` or `default`; `_DROP` for an empty one."""
    if isinstance(value, dict):
        resolved = {key: _resolve_optional(item, env) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _DROP}
    if isinstance(value, list):
        return [item for item in (_resolve_optional(i, env) for i in value) if item is not _DROP]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole and whole.group(2) is not None and not _is_set(env, whole.group(1)) \
            and not whole.group(3):
        return _DROP

    def replace(match: re.Match[str]) -> str:
        name, optional, default = match.group(1), match.group(2), match.group(3)
        if optional is None or _is_set(env, name):
            return f"${{{name}}}"
        return default or ""

    return _PLACEHOLDER.sub(replace, value)


def active_credentials(
    source: Path, env: Mapping[str, str]
) -> Tuple[Dict[str, Any], List[str]]:
    """The credentials with only the channels whose variables are all set.

    Args:
        source: The credentials file with `${VAR}` placeholders.
        env: The environment.

    Returns:
        The kept channels' settings (placeholders kept, optional ones resolved),
        and the names of the channels left off.
    """
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping of channel names to settings")
    active: Dict[str, Any] = {}
    off: List[str] = []
    for channel, settings in data.items():
        if missing_variables(settings, env):
            off.append(str(channel))
        else:
            active[str(channel)] = _resolve_optional(settings, env)
    return active, off


def write_active_credentials(source: Path, target: Path, env: Mapping[str, str]) -> List[str]:
    """Writes the credentials of the channels whose variables are all set.

    Args:
        source: The credentials file with `${VAR}` placeholders.
        target: Where to write the filtered file (its folder must exist).
        env: The environment.

    Returns:
        The names of the channels written (switched on).
    """
    active, _ = active_credentials(source, env)
    text = _HEADER.format(source=source.name)
    if active:
        text += yaml.safe_dump(active, sort_keys=False, default_flow_style=False,
                               allow_unicode=True)
    target.write_text(text, encoding="utf-8")
    return list(active)


def main(argv: Optional[List[str]] = None) -> int:
    """Writes the filtered file and prints which channels are on and off."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    source, target = Path(args[0]), Path(args[1])
    data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    target.parent.mkdir(parents=True, exist_ok=True)
    on = write_active_credentials(source, target, os.environ)
    for channel in on:
        print(f"on:  {channel}")
    for channel, settings in data.items():
        if channel not in on:
            unset = ", ".join(missing_variables(settings, os.environ))
            print(f"off: {channel} (unset: {unset})")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
