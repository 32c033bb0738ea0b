"""Checking a torch device before any work starts.

A CUDA device on a machine without one otherwise fails late and badly: a Ray actor that
asks for a GPU waits forever for one, and torch raises "Torch not compiled with CUDA
enabled" from deep inside a model move.
"""

from __future__ import annotations

from peaknet_bench.errors import InputError


def check_device(device: str, where: str = "--device") -> None:
    """Raise InputError (naming the option) unless `device` is a torch device this machine has."""
    if device == "cpu":
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(None, where, f"{device!r} is not a torch device (expected cpu, cuda or cuda:N)") from None
    if dev.type == "cpu":
        return
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None else "torch sees no CUDA GPU"
            raise InputError(None, where, f"{device!r} asked for, but {why}; use --device cpu")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise InputError(None, where, f"{device!r} asked for, but this machine has {count} CUDA device(s)")
        return
    if dev.type == "mps" and torch.backends.mps.is_available():
        return
    raise InputError(None, where, f"{device!r} is not available on this machine (expected cpu or cuda)")
