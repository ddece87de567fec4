"""One live organisation, one environment (unless the configuration says otherwise).

Two environments that reach the same API and organisation see one listing. Each would take
the other's clients for its own orphans and deactivate them: `apply --env staging` would wipe
`test`. So two such environments are a configuration error naming both, unless one of them
says on purpose that it shares the live organisation (`shares_live_with: [other]`). Then the
two must declare distinct client keys, and each leaves the clients the other declares alone
(see :func:`siblings` and selvsync.live.read).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from selvsync.errors import Position
from selvsync.model import EnvironmentSettings, Project

Fail = Callable[[Position | None, str, str, str], None]
Locate = Callable[[tuple[str, ...]], Position | None]


def live_identity(project: Project, env: EnvironmentSettings) -> tuple[str, ...]:
    """What decides which live clients an environment sees."""
    if env.is_emulator:
        return ("emulator", str(env.emulator_db.resolve() if env.emulator_db else env.name))
    return (env.api.rstrip("/").lower(), env.prefix.rstrip("/"), project.orgno)


def siblings(project: Project, name: str) -> list[str]:
    """The environments that share ``name``'s live organisation on purpose."""
    mine = project.environments[name]
    return [
        other
        for other, env in project.environments.items()
        if other != name
        and (other in mine.shares_live_with or name in env.shares_live_with)
        and live_identity(project, env) == live_identity(project, mine)
    ]


def check_shared_live(project: Project, locate: Locate, fail: Fail) -> None:
    """Environments that reach one live organisation without saying so; unknown names."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for name, env in project.environments.items():
        groups[live_identity(project, env)].append(name)
        for other in env.shares_live_with:
            if other not in project.environments or other == name:
                fail(
                    locate(("environments", name, "shares_live_with")),
                    f"environments.{name}.shares_live_with",
                    f"'{other}' is not another environment of this project",
                    "name an environment declared in selvsync.yaml",
                )
    for names in groups.values():
        for i, first in enumerate(names):
            for second in names[i + 1 :]:
                if second in siblings(project, first):
                    continue
                fail(
                    locate(("environments", second, "api")),
                    f"environments.{second}",
                    f"environments {first} and {second} reach the same API and organisation; "
                    "each would deactivate the other's clients as orphans",
                    f"give {second} its own API or organisation, or declare "
                    f"`shares_live_with: [{first}]` on {second} (and keep client keys distinct)",
                )


def check_distinct_keys(
    project: Project, declared: dict[str, set[str]], locate: Locate, fail: Fail
) -> None:
    """Sharing environments must not declare one key twice: both would manage one client."""
    for name, keys in declared.items():
        for other in siblings(project, name):
            if other < name or other not in declared:
                continue
            for key in sorted(keys & declared[other]):
                fail(
                    locate(("environments", name, "shares_live_with")),
                    f"environments.{name}.shares_live_with",
                    f"'{key}' is declared in both {name} and {other}, which share one live "
                    "organisation",
                    "give the client a different key in one of them",
                )
