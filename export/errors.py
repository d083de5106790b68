"""The one error bad input raises, naming the argument (and CLI flag) at fault."""

from __future__ import annotations


class ExportError(ValueError):
    """Invalid input to the export; nothing has been written.

    ``argument`` is the Python API's keyword argument, which is also the CLI
    flag's name (``calibration_data`` is ``--calibration_data``).
    """

    def __init__(self, argument: str, detail: str) -> None:
        super().__init__(f"`{argument}`: {detail}")
        self.argument = argument
        self.detail = detail
