# Runs commands for a long-running Node process (common/command-helper.ts), so the agent
# never forks itself: a fork copies the page tables of a 100-200 MB process (about 10 ms of
# the agent's CPU per kernel command, measured), this process is a few MB, and Python
# starts children with vfork.
#
# stdin: one JSON request per line {"id": N, "file": F, "args": [...], "input": S or null,
# "timeout": seconds, "env": {...} or null}. stdout: one JSON answer per line, in any order
# {"id": N, "code": C, "stdout": S, "stderr": S}; 127 for a missing program, 124 for one
# that timed out (killed). Requests run concurrently, each in a thread. Exits when stdin
# closes (its parent is gone), leaving nothing behind but the detached programs below.
#
# A request with "log": PATH (and "env", "cwd") starts a detached program instead (a
# container's process): its own session, stdin from /dev/null, stdout and stderr appended
# to PATH. Answers: {"id": N, "pid": P} once it runs (or a "code" as above if it could
# not start), then {"id": N, "exited": C} when it ends (null if a signal ended it), from a
# thread that waits for it, while this helper lives.
import json
import os
import subprocess
import sys
import threading

lock = threading.Lock()


def answer(message):
    line = json.dumps(message) + "\n"
    with lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def run(request):
    env = None if request.get("env") is None else {**os.environ, **request["env"]}
    try:
        done = subprocess.run([request["file"], *request["args"]], input=request.get("input") or "",
                              capture_output=True, text=True, errors="replace", env=env,
                              timeout=request["timeout"])
        result = {"code": done.returncode if done.returncode >= 0 else 128 - done.returncode,
                  "stdout": done.stdout, "stderr": done.stderr}
    except FileNotFoundError:
        result = {"code": 127, "stdout": "", "stderr": "ENOENT: not installed"}
    except subprocess.TimeoutExpired:
        result = {"code": 124, "stdout": "", "stderr": "timed out"}
    except OSError as err:
        result = {"code": 126, "stdout": "", "stderr": str(err)}
    answer({"id": request["id"], **result})


def start(request):
    try:
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            proc = subprocess.Popen([request["file"], *request["args"]], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, env=request["env"], cwd=request.get("cwd"),
                                    start_new_session=True)
        finally:
            os.close(log)
    except FileNotFoundError:
        answer({"id": request["id"], "code": 127, "stdout": "", "stderr": "ENOENT: not installed"})
        return
    except OSError as err:
        answer({"id": request["id"], "code": 126, "stdout": "", "stderr": str(err)})
        return
    answer({"id": request["id"], "pid": proc.pid})
    code = proc.wait()
    answer({"id": request["id"], "exited": code if code >= 0 else None})


def main():
    # A waiting thread per running container: small stacks (the default reserves 8 MB each).
    threading.stack_size(256 * 1024)
    for line in sys.stdin:
        request = json.loads(line)
        target = start if "log" in request else run
        threading.Thread(target=target, args=(request,), daemon=True).start()


main()
