"""Parse the ``--dataset`` argument: a built-in engine name, or ``NAME:PATH`` for users' files.

Built-in engines render their images (``faces``, ``chairs``); file-backed data sets read what the
user already has on disk (``NAME:PATH``, e.g. ``bfm:/data/01_MorphableModel.mat`` or
``dsprites:/data/dsprites.npz``). Nothing is ever downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed ``--dataset`` value.

    Attributes:
        name: the data set's kind (``faces``, ``chairs``, ``bfm``, ``dsprites``, ...).
        path: the user's file or folder for file-backed kinds, None for built-in engines.
    """

    name: str
    path: Path | None = None

    def __str__(self) -> str:
        return self.name if self.path is None else f"{self.name}:{self.path}"


def parse_dataset_spec(spec: str) -> DatasetSpec:
    """Split ``"NAME"`` or ``"NAME:PATH"`` into a :class:`DatasetSpec`.

    Only the first colon separates the name, so paths may contain colons. The path is not
    checked here (each loader says which file it expects).

    Raises:
        ValueError: empty name, a name that is not a lower-case identifier (letters, digits,
            ``-``, ``_``, ``7``), or ``NAME:`` with an empty path.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("empty --dataset; pass a name such as 'faces' or NAME:PATH such as 'dsprites:/data/dsprites.npz'")
    name, sep, path = spec.partition(":")
    name = name.strip()
    if not name or not all(c.isalnum() or c in "-_" for c in name) or name.lower() != name:
        raise ValueError(f"bad data set name {name!r} in --dataset {spec!r}; use a lower-case name such as 'faces' or 'dsprites:PATH'")
    if sep and not path.strip():
        raise ValueError(f"--dataset {spec!r} names no path after ':'; pass {name}:PATH to the file or folder you have")
    return DatasetSpec(name, Path(path) if sep else None)
