# Runs commands for a long-running Node process (common/command-helper.ts), so the agent
# never forks itself: a fork copies the page tables of a 100-200 MB process (about 10 ms of
# the agent's CPU per kernel command, measured), this process is a few MB, and Python
# starts children with vfork.
#
# stdin: one JSON request per line {"id": N, "file": F, "args": [...], "input": S or null,
# "timeout": seconds, "env": {...} or null}. stdout: one JSON answer per line, in any order
# {"id": N, "code": C, "stdout": S, "stderr": S}; 127 for a missing program, 124 for one
# that timed out (killed). Requests run concurrently, each in a thread. Exits when stdin
# closes (its parent is gone), leaving nothing behind.
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


def main():
    for line in sys.stdin:
        request = json.loads(line)
        threading.Thread(target=run, args=(request,), daemon=True).start()


main()
