"""``python -m reproduce COMMAND [options]``: dispatch to :mod:`reproduce.commands`, only that."""

from __future__ import annotations

import importlib
import sys

from reproduce.commands.errors import USAGE_ERROR

COMMANDS = {
    "table4": ("reproduce.commands.table4", "measure Table 4: params, FLOPs, batch-32 throughput"),
    "tables": ("reproduce.commands.tables", "regenerate Tables 2, 3, 5-9, REPORT.md and Figure 1"),
    "train": ("reproduce.commands.train", "launch a training config through submitit"),
    "evaluate": ("reproduce.commands.evaluate", "evaluate a checkpoint on an image folder"),
    "mlp-zoo": ("reproduce.commands.mlp_zoo", "time every MLP of Table 2 side by side"),
    "scaling": ("reproduce.commands.scaling", "how each MLP's cost grows with input and batch"),
}
#: Earlier spellings that still work, each with a line saying the new one.
DEPRECATED_COMMANDS = {"zoo": "mlp-zoo"}


def usage() -> str:
    lines = ["usage: python -m reproduce COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<9} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command in DEPRECATED_COMMANDS:
        new = DEPRECATED_COMMANDS[command]
        print(f"python -m reproduce {command} is now python -m reproduce {new}", file=sys.stderr)
        command = new
    if command not in COMMANDS:
        print(
            f"{usage()}\n\npython -m reproduce: error: unknown command {command!r}; accepted: "
            + ", ".join(COMMANDS),
            file=sys.stderr,
        )
        return USAGE_ERROR
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
