"""Where models run: one GPU set-up for every command and library function that takes ``gpu_id``."""

from __future__ import annotations


def use_gpu(gpu_id: int) -> None:
    """Run thinc (and its PyTorch layers) on GPU ``gpu_id``, with PyTorch's memory allocator so
    that both share one pool; ``gpu_id < 0`` keeps the CPU. RAISES: what thinc raises when the GPU
    cannot be used (ValueError, ImportError, RuntimeError)."""
    if gpu_id < 0:
        return
    from thinc.api import require_gpu, set_gpu_allocator

    set_gpu_allocator("pytorch")
    require_gpu(gpu_id)
