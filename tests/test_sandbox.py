"""The submission sandbox on its own (course_lib.grading.sandbox): what code inside can and cannot do.

Each test runs a few lines of Python in a sandbox made as the grader makes one for a submission, with small
limits, and checks what came out. CI installs bubblewrap (.ci/run) and sets COURSE_REQUIRE_SANDBOX=1, so
there these tests run rather than skip.
"""
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest

from course_lib.grading import sandbox as sb
from course_lib.grading.sandbox import Limits, SandboxConfig, SandboxUnavailable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if sb.bwrap_path() is None:
    if os.environ.get("COURSE_REQUIRE_SANDBOX"):
        raise RuntimeError("COURSE_REQUIRE_SANDBOX is set but bwrap is not installed (apt-get install bubblewrap)")
    pytest.skip("bubblewrap is not installed", allow_module_level=True)

SMALL = Limits(wall_s=30, memory_mb=1024, max_procs=64, disk_mb=50, tmp_mb=16)


def run_py(tmp_path, code, limits=SMALL, **kw):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    cfg = SandboxConfig(workdir=str(work), limits=limits, env={"PATH": "/usr/bin:/bin"}, **kw)
    return sb.run(cfg, [sys.executable, "-I", "-c", textwrap.dedent(code)])


def test_the_network_is_unreachable_even_the_graders_loopback(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    got = []

    def serve():
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                conn, _ = server.accept()
                got.append(conn.recv(100))
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    r = run_py(tmp_path, f"""
        import socket
        for host, port in (("127.0.0.1", {port}), ("1.1.1.1", 80)):
            try:
                socket.create_connection((host, port), timeout=3).sendall(b"escaped")
                print(host, "REACHED")
            except OSError as e:
                print(host, "unreachable", type(e).__name__)
        """)
    server.close()
    assert r.returncode == 0, r.stderr
    assert "REACHED" not in r.stdout and r.stdout.count("unreachable") == 2, r.stdout
    assert got == []


def test_it_sees_the_library_read_only_and_nothing_of_the_course(tmp_path):
    secret = tmp_path / "gradebook.db"
    secret.write_text("grades")
    r = run_py(tmp_path, f"""
        import os, course_lib
        lib = os.path.dirname(course_lib.__file__)
        print("library", os.path.isdir(lib))
        for p in ({str(secret)!r}, {os.path.join(ROOT, 'solutions')!r}, {os.path.join(ROOT, 'autograder')!r},
                  {os.path.join(ROOT, 'course_answers')!r}, {os.path.expanduser('~')!r} + "/.bash_history",
                  "/etc/shadow"):
            print("visible" if os.path.exists(p) else "invisible", p)
        try:
            open(os.path.join(lib, "planted.py"), "w").write("x = 1")
            print("WROTE the library")
        except OSError as e:
            print("library read-only:", e.errno)
        open("mine.txt", "w").write("ok")
        print("cwd", os.getcwd())
        import course_lib.answers, course_lib.envs
        print("answers", course_lib.answers.available(), sorted(course_lib.envs.tasks()))
        try:
            import course_answers
            print("IMPORTED the instructor's answers")
        except ImportError:
            print("no instructor's answers")
        """)
    assert r.returncode == 0, r.stderr
    assert "library True" in r.stdout
    # the reference implementations of graded exercises (issue 12, point 5) are not in the sandbox
    assert "answers False ['franka_reach']" in r.stdout and "no instructor's answers" in r.stdout, r.stdout
    assert not [ln for ln in r.stdout.splitlines() if ln.startswith("visible")], r.stdout
    assert "library read-only: 30" in r.stdout  # EROFS
    assert not os.path.exists(os.path.join(ROOT, "course_lib", "planted.py"))
    assert (tmp_path / "work" / "mine.txt").read_text() == "ok"  # its own folder is writable


def test_a_background_process_ends_with_the_sandbox(tmp_path):
    token = f"sandbox-test-{uuid.uuid4().hex}"
    r = run_py(tmp_path, f"""
        import subprocess, sys
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)  # {token}"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("started")
        """)
    assert "started" in r.stdout
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", token], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes left behind: {left}"


def test_the_time_limit_stops_a_run_that_never_ends(tmp_path):
    t0 = time.monotonic()
    r = run_py(tmp_path, "while True: pass", limits=Limits(wall_s=3, memory_mb=1024, max_procs=64, disk_mb=50))
    assert r.stop == "time" and time.monotonic() - t0 < 20
    assert "ran longer than the 3 s allowed" in sb.describe_stop(r.stop, Limits(wall_s=3))


def test_the_memory_limit_stops_a_run_that_takes_too_much(tmp_path):
    r = run_py(tmp_path, "x = bytearray(3 << 30); x[::4096] = b'y' * len(x[::4096]); print('GOT IT')")
    assert "GOT IT" not in r.stdout
    assert r.returncode != 0
    # a cgroup (root) kills it and says so; setrlimit makes the allocation fail with MemoryError
    assert r.stop == "memory" or "MemoryError" in r.stderr, (r.stop, r.stderr[-300:])


def test_the_process_limit_stops_a_fork_bomb(tmp_path):
    r = run_py(tmp_path, """
        import os, time
        n = 0
        try:
            for _ in range(1000):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
        except OSError as e:
            print("refused after", n, type(e).__name__)
        """)
    assert "refused after" in r.stdout, (r.stdout, r.stderr)
    assert int(r.stdout.split("refused after")[1].split()[0]) < SMALL.max_procs
    if os.geteuid() == 0:
        assert r.stop == "processes"


def test_the_disk_limit_stops_a_run_that_fills_its_folder(tmp_path):
    r = run_py(tmp_path, """
        with open("filler.bin", "wb") as f:
            for _ in range(1000):
                f.write(b"0" * (1 << 20))
        print("WROTE IT ALL")
        """)
    assert "WROTE IT ALL" not in r.stdout
    assert r.stop == "disk"
    assert "wrote more than the 50 MiB" in sb.describe_stop(r.stop, SMALL)


def test_a_flood_of_output_is_cut(tmp_path):
    r = run_py(tmp_path, "import os\nfor _ in range(200): os.write(1, b'x' * 1000000)")
    assert len(r.stdout) < 2_000_000 and "more bytes dropped" in r.stdout


def test_missing_bwrap_says_what_to_install(monkeypatch):
    monkeypatch.setattr(sb, "bwrap_path", lambda: None)
    with pytest.raises(SandboxUnavailable) as e:
        sb.require_bwrap()
    assert "apt-get install bubblewrap" in str(e.value) and "--no-sandbox" in str(e.value)


def test_course_grade_refuses_to_grade_without_bwrap_unless_told(monkeypatch, tmp_path, capsys):
    from course_lib.grading.cli import main

    monkeypatch.setattr(sb, "bwrap_path", lambda: None)
    rc = main(["grade", "--root", str(tmp_path), "autograde", "ch02_cartpole"])
    err = capsys.readouterr().err
    assert rc == 1 and "bubblewrap (bwrap) is not installed" in err and "apt-get install bubblewrap" in err
    rc = main(["grade", "--root", str(tmp_path), "autograde", "ch02_cartpole", "--no-sandbox"])
    err = capsys.readouterr().err
    assert "WARNING: --no-sandbox" in err
    assert "bubblewrap" not in err.split("WARNING: --no-sandbox")[1]  # it went on (and found nothing to grade)
    assert "no submissions of ch02_cartpole" in err


def test_a_sandboxed_kernel_is_interrupted_and_keeps_its_state(tmp_path):
    """A cell cut off by its time-out is interrupted (not the kernel restarted): the next cell still sees x."""
    import nbformat
    from nbclient import NotebookClient

    from course_lib.grading.kernel import KERNEL_NAME, kernel_installed
    from course_lib.grading.nbgrader_ext import SandboxedKernelManager

    work, runtime, launch = (tmp_path / d for d in ("work", "kernel", "launch"))
    for d in (work, runtime, launch):
        d.mkdir()
    cfg = SandboxConfig(workdir=str(work), limits=Limits(wall_s=120, memory_mb=4096, max_procs=256, disk_mb=50),
                        rw_binds=[str(runtime)], env={"PATH": "/usr/bin:/bin"}, quiet=True)

    class Client(NotebookClient):
        def create_kernel_manager(self):
            km = super().create_kernel_manager()
            km.transport, km.ip = "ipc", str(runtime / "kernel")
            km.connection_file = str(runtime / "kernel.json")
            km.sandbox_config, km.launch_dir = cfg, str(launch)
            return km

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in
                                         ("x = 41", "while True:\n    pass", "print(x + 1)")])
    client = Client(nb, timeout=5, interrupt_on_timeout=True, allow_errors=True,
                    kernel_name=KERNEL_NAME if kernel_installed() else "python3",
                    kernel_manager_class=SandboxedKernelManager, resources={"metadata": {"path": str(work)}})
    client.execute()
    assert any(o.get("ename") in ("KeyboardInterrupt", "CellTimeoutError") for o in nb.cells[1].outputs)
    assert nb.cells[2].outputs[0]["text"] == "42\n"
