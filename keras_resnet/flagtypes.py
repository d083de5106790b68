"""Flag parsing for the command lines (absl): typed list flags and one-line errors.

One parser for every list flag (``--classes=5,6,7``, ``--lr_decay_epochs=2,4.5``,
``--seeds=0,1,2``, ``--threads=1,2`` ...): the items are converted and checked
while the flags are parsed, before any heavy import, and a bad item is
reported in one line naming the flag and what it takes. :func:`flags_parser`
gives ``app.run`` that one line (and exit status 2) for every bad flag, where
absl's own parser adds a line of help and exits with 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from absl import flags

flags.disclaim_key_flags()  # the flags define_list defines are key flags of its caller (listed by its --help)


class TypedListParser(flags.ListParser):
    """A comma-separated list whose items go through ``convert`` (which raises
    ``ValueError`` for a bad item); ``kind`` names the items in messages."""

    def __init__(self, name: str, convert: Callable[[str], Any], kind: str) -> None:
        super().__init__()
        self._name, self._convert, self._kind = name, convert, kind

    def parse(self, argument: str | Sequence[Any]) -> list[Any]:
        items = super().parse(argument)
        try:
            return [self._convert(item) for item in items]
        except ValueError:
            raise ValueError(f"--{self._name} must be a comma-separated list of {self._kind}; "
                             f"received {argument!r}") from None

    def flag_type(self) -> str:
        return f"comma separated list of {self._kind}"


def choice(allowed: Sequence[str]) -> Callable[[str], str]:
    """A ``convert`` for :func:`define_list` that accepts only the ``allowed`` strings."""
    def convert(item: str) -> str:
        if item not in allowed:
            raise ValueError(item)
        return item
    return convert


def define_list(name: str, default: str | Sequence[Any] | None, convert: Callable[[str], Any], help_text: str,
                flag_values: flags.FlagValues = flags.FLAGS, kind: str | None = None) -> None:
    """Define ``--name`` as a list of ``convert(item)`` (``kind``, e.g. ``"ints"``; default: the
    converter's name plus ``s``)."""
    parser = TypedListParser(name, convert, kind or f"{convert.__name__}s")
    flags.DEFINE(parser, name, default, help_text, serializer=flags.CsvListSerializer(","), flag_values=flag_values)


def usage_error(prog: str, message: str) -> NoReturn:
    """Exit with status 2 after one line ``prog: error: message`` on stderr (bad input, as argparse does)."""
    sys.stderr.write(f"{prog}: error: {' '.join(message.split())}\n")
    sys.exit(2)


def flags_parser(prog: str, flag_values: flags.FlagValues = flags.FLAGS) -> Callable[[list[str]], list[str]]:
    """An ``app.run(main, flags_parser=...)`` parser of ``flag_values``: returns the program and positional
    arguments; a bad flag exits through :func:`usage_error`, naming the flag and what it takes."""
    def parse(argv: list[str]) -> list[str]:
        try:
            return flag_values(list(argv))
        except flags.Error as err:
            usage_error(prog, str(err))
    return parse
