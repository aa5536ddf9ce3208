"""Cut a run's append-only logs back to a checkpoint, for ``--resume`` after a kill.

``probe.jsonl`` (the training probe) and the TensorBoard event files in ``logs/`` are
appended to while training runs.  A run killed after its last checkpoint (step N) has
written rows and events for steps it will redo when resumed, and possibly a torn last
line or record.  Left alone, these would show up twice (or as garbage) next to what the
resumed run writes.  :func:`truncate_run_logs` keeps exactly what the resumed run will not
write again:

* ``probe.jsonl``: whole JSON rows with ``step <= N`` (the probe logs completed steps);
* event files: whole records (length and CRC checked) except Lightning's metrics at steps
  ``>= N`` (Lightning records the metrics of step k + 1 at step k), probe scalars
  (``probe/...``) at steps ``> N``, and the hparams records that Lightning writes again at
  every start.  A file left with nothing but its header is deleted.

Files are rewritten atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from .atomic import atomic_write_bytes, atomic_write_text

PROBE_FILE = "probe.jsonl"
LOG_DIR = "logs"
PROBE_TAG_PREFIX = "probe/"
HPARAMS_TAGS = ("hp_metric", "_hparams_/")


def truncate_jsonl(path: str | Path, last_step: int) -> int:
    """Keep the whole JSON rows of ``path`` whose ``step`` is <= ``last_step``; returns rows dropped.

    A torn or unparsable line, or one without an integer ``step``, is dropped.  A missing
    file is left missing.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        step = row.get("step") if isinstance(row, dict) else None
        if isinstance(step, int) and not isinstance(step, bool) and step <= last_step:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return dropped


def read_records(data: bytes) -> tuple[list[bytes], bool]:
    """The whole TFRecord frames of an event file, and whether the file ended cleanly.

    Frame: uint64 length, uint32 masked CRC32C of the length, data, uint32 masked CRC32C of
    the data (little-endian).  Reading stops at the first short or corrupt frame.
    """
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    records, pos = [], 0
    while pos < len(data):
        header = data[pos : pos + 12]
        if len(header) < 12:
            return records, False
        (length,), (length_crc,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
        if masked_crc32c(header[:8]) != length_crc or pos + 12 + length + 4 > len(data):
            return records, False
        body = data[pos + 12 : pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
        if masked_crc32c(body) != body_crc:
            return records, False
        records.append(body)
        pos += 16 + length
    return records, True


def _frame(body: bytes) -> bytes:
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    header = struct.pack("<Q", len(body))
    return header + struct.pack("<I", masked_crc32c(header)) + body + struct.pack("<I", masked_crc32c(body))


def _redone(event, last_step: int) -> bool:
    """Whether a run resumed from ``last_step`` writes this event again."""
    if not event.HasField("summary"):
        return False  # file_version header, session logs: one per file
    tags = [v.tag for v in event.summary.value]
    if any(t.startswith(HPARAMS_TAGS) for t in tags):
        return True
    if tags and all(t.startswith(PROBE_TAG_PREFIX) for t in tags):
        return event.step > last_step
    return event.step >= last_step


def truncate_event_files(folder: str | Path, last_step: int) -> int:
    """Cut every TensorBoard event file under ``folder`` back to ``last_step``; returns records dropped."""
    from tensorboard.compat.proto import event_pb2

    dropped = 0
    for path in sorted(Path(folder).rglob("events.out.tfevents.*")) if Path(folder).is_dir() else []:
        if not path.is_file():
            continue
        records, whole = read_records(path.read_bytes())
        kept = []
        for body in records:
            try:
                event = event_pb2.Event.FromString(body)
            except Exception:  # a frame with a valid CRC but no Event in it: not ours to keep
                event = None
            if event is not None and not _redone(event, last_step):
                kept.append((body, event))
        n = len(records) - len(kept) + (0 if whole else 1)
        if n == 0:
            continue
        dropped += n
        if not any(e.HasField("summary") for _, e in kept):
            path.unlink()
        else:
            atomic_write_bytes(path, b"".join(_frame(b) for b, _ in kept))
    return dropped


def truncate_run_logs(run_dir: str | Path, last_step: int) -> dict[str, int]:
    """Cut ``run_dir``'s probe.jsonl and TensorBoard logs back to checkpoint step ``last_step``.

    Returns: rows / records dropped, ``{"probe": n, "tensorboard": m}``.
    """
    run_dir = Path(run_dir)
    return {"probe": truncate_jsonl(run_dir / PROBE_FILE, last_step),
            "tensorboard": truncate_event_files(run_dir / LOG_DIR, last_step)}
