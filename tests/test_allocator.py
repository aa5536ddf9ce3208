"""dcign.allocator: freed blocks are reused instead of page-faulted in again each step."""

import subprocess
import sys

import pytest

CHILD = """
import resource, sys, torch
from dcign.allocator import keep_freed_memory
if sys.argv[1] == "on":
    assert keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):  # warm up
    torch.ones(16_000_000).sum()
before = faults()
for _ in range(20):
    torch.ones(16_000_000).sum()  # 64 MB (above glibc's 32 MB dynamic mmap limit) per iteration
print(faults() - before)
"""


def minor_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_blocks_are_reused():
    off, on = minor_faults("off"), minor_faults("on")
    # without: each 64 MB block is mmapped and unmapped (~16,000 faults per iteration)
    assert off > 100_000
    assert on < off / 10
