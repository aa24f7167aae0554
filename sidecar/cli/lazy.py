"""A click group whose subcommands are imported when they are used, not at start-up.

`n8n-sidecar serve` and `worker` start every gateway and worker process, so the command line
must not import what other subcommands need (the dead-letter command reaches the whole
write path, the bench its harness). Pattern from click's documentation ("Lazily loading
subcommands")."""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """A group with `lazy_subcommands`: {name: "module.path:attribute"}, imported on use."""

    def __init__(self, *args, lazy_subcommands: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The eager commands and the lazy ones, sorted as click sorts them."""
        return sorted([*super().list_commands(ctx), *self.lazy_subcommands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command named `cmd_name`, importing it first if it is lazy."""
        if cmd_name not in self.lazy_subcommands:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self.lazy_subcommands[cmd_name].split(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a click command")
        return command
