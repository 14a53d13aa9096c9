"""Jobs with a time limit: each runs in a child process of its own, ended when it is over time.

Python cannot stop a thread, and a worker process shared with other jobs should not be killed
for one of them, so a job with ``--timeout`` is the one process that is ended: with SIGKILL, and
with every process it started (it leads a process group of its own). The child also ends itself
when the process that started it dies, so a killed worker leaves no job running behind it.

The child is a fresh interpreter (``python -m mnistbench.run.timeout TASK ANSWER PARENT READY``):
it reads the function and its arguments from the file TASK (cloudpickle, after the parent's
``sys.path``, so it imports what the parent can), says so on the pipe READY, and writes the
return value to ANSWER. The time limit counts from that moment: the job's time, not the second
or two a fresh interpreter takes to import the runner. Its standard output and error are the
parent's, for progress lines and progress bars.
"""

import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cloudpickle

WATCH_PARENT_S = 0.5
START_S = 120  # for a fresh interpreter to import what the job needs, on a loaded machine


class TimedOut(Exception):
    """The child was still running when its time was up, and was ended."""


class ChildDied(Exception):
    """The child ended without an answer (killed by a signal, or a crash)."""


def call_with_timeout(function, args, seconds, environment=None):
    """``function(*args)``, run in a child process of its own for at most ``seconds`` (once
    the child has started; ``None``: no limit), with ``environment`` added to this process's
    environment variables; its return value.

    Raises
    ------
    TimedOut
        If it ran longer; the child and every process it started have been ended.
    ChildDied
        If it ended without returning, e.g. killed by the system for memory.
    """
    with tempfile.TemporaryDirectory(prefix="mnistbench-job-") as folder:
        task, answer = Path(folder) / "task.pkl", Path(folder) / "answer.pkl"
        # the path first, so that the child can import what unpickling the call needs
        task.write_bytes(pickle.dumps((sys.path, cloudpickle.dumps((function, args)))))
        ready, ready_child = os.pipe()
        child = subprocess.Popen([sys.executable, "-m", __name__, str(task), str(answer),
                                  str(os.getpid()), str(ready_child)],
                                 pass_fds=(ready_child,), start_new_session=True,
                                 env={**os.environ, **(environment or {})})
        os.close(ready_child)
        try:
            # readable when the child says it started, or when it ended before that
            if not select.select([ready], [], [], START_S)[0]:
                raise TimedOut(f"its process did not start within {START_S} s")
            child.wait(seconds)
        except subprocess.TimeoutExpired:
            raise TimedOut(f"over its {seconds:g} s time limit") from None
        finally:  # over time, or this process interrupted: nothing of the job runs on
            os.close(ready)
            if child.returncode is None:
                end_process_group(child)
        if not answer.is_file():
            raise ChildDied(f"its process ended without a result ({exit_reason(child)})")
        return pickle.loads(answer.read_bytes())


def end_process_group(child):
    """SIGKILL ``child`` and every process in its group; reap it."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def exit_reason(child):
    """``"killed by SIGKILL"`` or ``"exit code 1"``."""
    if child.returncode < 0:
        return f"killed by {signal.Signals(-child.returncode).name}"
    return f"exit code {child.returncode}"


def watch_parent(parent):
    """End this process group as soon as ``parent`` is no longer this process's parent."""
    def watch():
        while os.getppid() == parent:
            time.sleep(WATCH_PARENT_S)
        os.killpg(os.getpgrp(), signal.SIGKILL)
    threading.Thread(target=watch, daemon=True).start()


def child_main(task, answer, parent, ready):
    watch_parent(int(parent))
    path, call = pickle.loads(Path(task).read_bytes())
    sys.path[:] = path
    function, args = pickle.loads(call)
    os.write(int(ready), b"1")
    os.close(int(ready))
    result = function(*args)
    partial = Path(f"{answer}.partial")
    partial.write_bytes(cloudpickle.dumps(result))
    partial.rename(answer)  # an answer is whole or absent


if __name__ == "__main__":
    child_main(*sys.argv[1:5])
