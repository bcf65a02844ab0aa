"""The `vmae` command line: one Typer sub-app per command group, kept thin."""
