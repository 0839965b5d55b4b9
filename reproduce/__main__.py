"""Command line: ``python -m reproduce {table4,tables,train} [options]``, as nox calls it."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "table4": ("reproduce.table4", "measure Table 4: params, FLOPs, batch-32 throughput"),
    "tables": ("reproduce.tables", "regenerate Tables 2, 3, 5-9, REPORT.md and Figure 1"),
    "train": ("reproduce.train_cli", "launch a training config through submitit"),
}


def usage() -> str:
    lines = ["usage: python -m reproduce COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<8} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"unknown command {command!r}; accepted: {', '.join(COMMANDS)}\n", file=sys.stderr)
        print(usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
