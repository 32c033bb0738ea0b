"""The one way this package uses Ray: a session that is shut down on every exit path, and
the `ray.wait` loops.

`ray_session()` starts a local Ray (unless it already runs), or joins the cluster at
`address` (`--address` of every Ray command), and stops it when the block ends — normally,
by an exception, or by SIGTERM/SIGHUP, which are turned into KeyboardInterrupt in the main
thread so that the work in the block stops as on Ctrl-C.

`finished(refs, timeout)` is the `ray.wait` idiom (block for the first, then take every
other one already done); `map_windowed(items, submit, window)` keeps at most `window` tasks
in flight and yields each (item, result) as it finishes.

No code runs in a process killed by SIGKILL, and Ray's dashboard and runtime-env agents
outlive their driver then (they ignore SIGTERM). So a local session also starts a small
reaper process: it learns the Ray processes below the driver while the driver runs and,
when the driver's end of a pipe closes (the kernel closes it whatever killed the driver),
kills those still alive. Processes are matched by pid *and* start time, so a recycled pid
is never hit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None, log_to_driver: bool = False,
                **init_kwargs: Any) -> Iterator[bool]:
    """Ray for the duration of the block; yields True when this call started it (then it is
    also shut down here, on every exit path).

    `address` joins a running cluster (``auto``, ``ray://host:10001``); None starts a local
    instance with `num_cpus` CPUs (None: all of them; ignored when joining a cluster).
    `log_to_driver` forwards the workers' stdout/stderr to this process.
    """
    import ray

    if ray.is_initialized():
        yield False
        return
    kw = {"include_dashboard": False, "configure_logging": False, "log_to_driver": log_to_driver, **init_kwargs}
    if address:
        kw["address"] = address
    elif num_cpus is not None:
        kw["num_cpus"] = int(num_cpus)
    previous = _install_signal_handlers()
    reaper = None
    try:
        ray.init(**kw)
        if not address:
            reaper = _start_reaper()
        yield True
    finally:
        try:
            ray.shutdown()
        finally:
            if reaper is not None:
                reaper.finish()
            _restore_signal_handlers(previous)


# ------------------------------------------------------------------ waiting
def finished(refs: list, timeout: float | None = None) -> list:
    """The refs of `refs` that have finished: waits up to `timeout` seconds (None: as long as it
    takes) for the first one, then takes every other one that is already done."""
    import ray

    if not refs:
        return []
    ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
    if ready and len(refs) > 1:
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
    return ready


def map_windowed(items: Iterable[T], submit: Callable[[T], Any], window: int | None = None) -> Iterator[tuple[T, Any]]:
    """Submit `submit(item)` (a Ray object ref) for each item with at most `window` in flight
    (None: all at once) and yield (item, result) in the order they finish. A task's error is
    raised here, by `ray.get`."""
    import ray

    if window is not None and window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    todo = iter(items)
    pending: dict[Any, T] = {}
    exhausted = False
    while True:
        while not exhausted and (window is None or len(pending) < window):
            try:
                item = next(todo)
            except StopIteration:
                exhausted = True
                break
            pending[submit(item)] = item
        if not pending:
            return
        for ref in finished(list(pending)):
            yield pending.pop(ref), ray.get(ref)


# ------------------------------------------------------------------ signals
def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def _install_signal_handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            previous[sig] = signal.signal(sig, _interrupt)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


# ------------------------------------------------------------------ reaper
class _Reaper:
    def __init__(self, proc: subprocess.Popen, write_fd: int) -> None:
        self.proc, self.write_fd = proc, write_fd

    def finish(self) -> None:
        """After a clean shutdown: let the reaper remove stragglers, and wait for it."""
        os.close(self.write_fd)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _start_reaper() -> _Reaper | None:
    try:
        r, w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-m", "peaknet_bench.util.raysession", str(os.getpid())],
                                stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, close_fds=True)
        os.close(r)
    except OSError:  # no reaper is no reason to fail the run
        return None
    os.set_inheritable(w, False)
    return _Reaper(proc, w)


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, start time in clock ticks), from /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()  # after the command name, which may hold spaces
        out[int(name)] = (int(fields[1]), int(fields[19]))
    return out


def _is_ray(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return b"ray::" in cmd or b"/ray/" in cmd


def _ray_descendants(root: int, me: int) -> dict[int, int]:
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if pid != me and _is_ray(pid):
            out[pid] = table[pid][1]
    return out


def _start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2:].split()[19])


def reap(driver: int) -> None:
    """Watch `driver`'s Ray processes until stdin closes, then kill the survivors."""
    import select

    me = os.getpid()
    known: dict[int, int] = {}
    while True:
        ready, _, _ = select.select([0], [], [], 1.0)
        if os.path.exists(f"/proc/{driver}"):
            known.update(_ray_descendants(driver, me))
        if ready and not os.read(0, 1):
            break
    deadline = time.monotonic() + 3.0  # a clean shutdown is still finishing: give it a moment
    while time.monotonic() < deadline and any(_start_time(p) == s for p, s in known.items()):
        time.sleep(0.2)
    for pid, start in known.items():
        if _start_time(pid) == start:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    reap(int(sys.argv[1]))
