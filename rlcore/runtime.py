"""Device choice and seeding, shared by every trainer and player."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available (use auto or cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


_threads_lock = threading.Lock()
_threads_before = 0  # the count before the first of the blocks now running
_threads_blocks = 0


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with `n` torch CPU threads, then restore the previous count. The count is the process's:
    blocks running at once in several threads (a Compare's two plays) share it, and the last one to end
    restores the count from before the first (each restoring its own would leave a later one's count)."""
    global _threads_blocks, _threads_before
    with _threads_lock:
        if _threads_blocks == 0:
            _threads_before = torch.get_num_threads()
        _threads_blocks += 1
        torch.set_num_threads(n)
    try:
        yield
    finally:
        with _threads_lock:
            _threads_blocks -= 1
            if _threads_blocks == 0:
                torch.set_num_threads(_threads_before)


# CPU features with native bfloat16 arithmetic (Linux /proc/cpuinfo names). Without them bfloat16 is
# emulated through float32 conversions: slower than float32 itself (bench/mario.py prints both).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo's first "flags" line (empty where there is none)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as file:
                cpuinfo = file.read()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / arm
            return frozenset(value.split())
    return frozenset()


def fast_bfloat16(device: torch.device, flags: frozenset[str] | None = None) -> tuple[bool, str]:
    """Whether `device` computes bfloat16 natively, with the reason in words. `flags`: the CPU's feature
    flags (default: this machine's)."""
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        return native, f"{torch.cuda.get_device_name(device)} {'has' if native else 'lacks'} native bfloat16"
    flags = cpu_flags() if flags is None else flags
    found = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    capability = torch.backends.cpu.get_cpu_capability()
    if found:
        return True, f"the CPU has {', '.join(found)} (torch CPU capability {capability})"
    return False, f"the CPU has no {' / '.join(BF16_CPU_FLAGS)} (torch CPU capability {capability})"
