"""The project's one error type for bad input: it names the file, row or column and says what to do."""

from __future__ import annotations


class DataError(ValueError):
    """Bad user input. ``str(err)`` is a complete, user-facing message (never show a traceback for it)."""

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.row = row
        self.column = column
        self.hint = hint
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.file:
            where.append(f"file '{self.file}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column '{self.column}'")
        text = f"{', '.join(where)}: {self.problem}" if where else self.problem
        if self.hint:
            text += f" What to do: {self.hint}"
        return text
