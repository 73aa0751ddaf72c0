"""The `guidance-engine` command: subcommands for the things a user does outside Python.

    guidance-engine cache list            # converted models and other cached files, with sizes
    guidance-engine cache clear KEY       # delete one entry (KEY as `cache list` shows it)
    guidance-engine cache clear --all     # delete everything in the cache

Other parts of the package add subcommands through a `register(subparsers)` function (the
LLMCompiler's, when `guidance_engine.llmcompiler.cli` exists); each subcommand sets `run`, a
function taking the parsed arguments and returning the exit status.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# Modules that may add subcommands; each is imported only when the command line is parsed.
_PLUGINS = ("guidance_engine.llmcompiler.cli",)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guidance-engine",
        description="Handlebars-style templates for LLM programs: command-line tools.",
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_cache(subparsers)
    for module in _PLUGINS:
        if _module_exists(module):
            importlib.import_module(module).register(subparsers)
    return parser


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _add_cache(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cache = subparsers.add_parser(
        "cache", help="list or clear the model cache",
        description="The model cache: GGUF models converted for fast loading, token indexes "
        "and other files (in ~/.cache/guidance_engine, or $GUIDANCE_ENGINE_CACHE).",
    )
    actions = cache.add_subparsers(title="actions", metavar="ACTION")
    listing = actions.add_parser("list", help="show every cache entry with its size")
    listing.set_defaults(run=_cache_list)
    clear = actions.add_parser("clear", help="delete cache entries to reclaim disk")
    target = clear.add_mutually_exclusive_group(required=True)
    target.add_argument("keys", nargs="*", default=[], metavar="KEY",
                        help="an entry name as `cache list` shows it")
    target.add_argument("--all", action="store_true", help="delete every entry")
    clear.set_defaults(run=_cache_clear)
    cache.set_defaults(run=lambda args: _usage(cache))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _size(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def _cache_list(args: argparse.Namespace) -> int:
    from guidance_engine.llms.model_cache import cache_entries
    from guidance_engine.llms.model_store import cache_root

    entries = cache_entries()
    print(f"cache: {cache_root()}")
    if not entries:
        print("(empty)")
        return 0
    width = max(len(e.name) for e in entries)
    for entry in entries:
        detail = entry.status if entry.kind == "model" else "other"
        if entry.source:
            detail += f" (from {entry.source})"
        print(f"{entry.name:<{width}}  {_size(entry.size):>12}  {detail}")
    print(f"{'total':<{width}}  {_size(sum(e.size for e in entries)):>12}")
    return 0


def _cache_clear(args: argparse.Namespace) -> int:
    from guidance_engine.llms.model_cache import cache_entries, remove_entry

    names = [e.name for e in cache_entries()]
    targets = names if args.all else args.keys
    for key in targets:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else (
                f"; the entries are: {', '.join(names) or 'none'}")
            print(f"guidance-engine: no cache entry {key!r}{hint}", file=sys.stderr)
            return 1
    freed = 0
    for key in targets:
        size = remove_entry(key)
        freed += size
        print(f"removed {key} ({_size(size)})")
    print(f"freed {_size(freed)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `guidance-engine` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return 0
    status: int = run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
