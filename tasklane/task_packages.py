"""Task packages: the users' task types, kept in their own Python packages outside this repository.

A task package is an importable package (a folder with `__init__.py`, and optionally a requirements.txt)
whose import registers its task types with the registry. Every component that accepts or runs tasks (the
API, the Lambda runner, the long-task workers) builds its registry here, from one setting, TASK_PACKAGES.
Deployed, the packages sit beside the platform's code (the Lambda code asset, the worker image) and are named
by module; in a local run they may be named by folder.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path

from tasklane.provided import provided
from tasklane.registry import TaskRegistry, registry
from tasklane.settings import TaskPackageSettings

BUILTIN = "tasklane.builtin_tasks"


class TaskPackageError(Exception):
    """A task package that cannot be found or imported; the message is one line naming it and why."""


def module_of(package: str) -> tuple[str, Path | None]:
    """The module name to import for `package`, and the folder to put on sys.path first (for a folder)."""
    if "/" not in package and "\\" not in package:
        return package, None
    folder = Path(package).expanduser().resolve()
    if not (folder / "__init__.py").is_file():
        raise TaskPackageError(f"task package {package}: not a folder with an __init__.py")
    return folder.name, folder.parent


def load_task_packages(packages: Iterable[str], tasks: TaskRegistry | None = None) -> list[str]:
    """Import the built-in task types and each task package into `tasks` (the process's registry, which task
    code registers with); returns every registered type's name."""
    tasks = registry if tasks is None else tasks
    importlib.import_module(BUILTIN)
    for package in packages:
        name, parent = module_of(package)
        if parent is not None and str(parent) not in sys.path:
            sys.path.insert(0, str(parent))
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise TaskPackageError(f"task package {package}: import failed: {type(exc).__name__}: {exc}") from exc
        if not registered_by(name, tasks):
            raise TaskPackageError(f"task package {package}: its import registered no task type")
    return tasks.names()


def registered_by(module: str, tasks: TaskRegistry = registry) -> list[str]:
    """The task types whose functions live in `module` or below it."""
    return [
        name for name in tasks.names()
        if (found := tasks.get(name)) is not None
        and (found.function.__module__ == module or found.function.__module__.startswith(module + "."))
    ]


@provided
def task_registry() -> TaskRegistry:
    """The process's registry: built-in types and the configured task packages, imported once."""
    load_task_packages(TaskPackageSettings().packages, registry)
    return registry
