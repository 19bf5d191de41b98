"""One OS-level sandbox per submission: bubblewrap (``bwrap``) with fixed limits.

Everything a submission's code runs while it is graded (its notebook's
kernel, the re-run of its solution cells) runs through :func:`launch`: a
small trusted launcher that starts ``bwrap`` with

- no network (a network namespace of its own: loopback only);
- a read-only view of the Python installation, the environment and
  ``course_lib`` only (no repository, no gradebook, no course root, no other
  submission, no home folder);
- one writable folder, the submission's scratch copy (``workdir``, bound at
  its own path), and small private ``/tmp`` and ``$HOME`` (tmpfs);
- its own PID namespace: when the launcher or the sandbox's first process
  ends, every process started inside ends with it;
- limits (:class:`Limits`): wall-clock time for the whole run, memory and
  processes (a cgroup of its own where this machine lets the grader make one,
  as root; otherwise ``setrlimit``: address space per process (not on a CUDA machine, where CUDA reserves more than it uses), and the
  process count of a non-root user), disk (the scratch folder's size, checked
  twice a second, and ``RLIMIT_FSIZE`` per file; ``/tmp`` and ``$HOME`` are
  size-limited tmpfs).

Why bubblewrap: it is what Flatpak runs every application in, it needs no
daemon and no root (unprivileged user namespaces), and Debian packages it
(``apt-get install bubblewrap``). Docker would need a daemon that neither the
course's CI nor a student's laptop has.

Grading without a sandbox needs ``--no-sandbox`` (``course grade autograde``):
then the same limits apply where ``setrlimit`` can set them, and nothing else.

    python -m course_lib.grading.sandbox launch CONFIG.json -- COMMAND ...

runs COMMAND in the sandbox described by CONFIG.json (:class:`SandboxConfig`)
and exits with its status; a limit that stopped it is written, as one line
of JSON, to CONFIG.json's ``report`` path.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

__all__ = ["Limits", "SandboxConfig", "SandboxUnavailable", "bwrap_path", "require_bwrap", "bwrap_argv", "launch",
           "run", "RunResult", "INSTALL_HINT", "describe_stop"]

INSTALL_HINT = ("install bubblewrap: `sudo apt-get install bubblewrap` (Debian, Ubuntu), `sudo dnf install "
                "bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch); or grade without a sandbox with "
                "--no-sandbox (unsafe: students' code then runs with your permissions)")


class SandboxUnavailable(RuntimeError):
    """bwrap is missing or cannot make a sandbox on this machine; the message says what to install or enable."""


@dataclass
class Limits:
    """What one submission may use while it is graded."""

    wall_s: float = 1800.0  #: seconds for the whole run (the notebook's every cell together)
    memory_mb: int = 8192  #: MiB for all its processes together (cgroup), or for each (setrlimit)
    max_procs: int = 512  #: processes and threads at once
    disk_mb: int = 2048  #: MiB the scratch folder may hold; also the largest file
    tmp_mb: int = 512  #: MiB of /tmp and of $HOME (each a tmpfs)


@dataclass
class SandboxConfig:
    """Everything :func:`launch` needs, as plain data (it travels as a JSON file)."""

    workdir: str  #: the only writable host folder; bound at the same path, and the command's working directory
    limits: Limits = field(default_factory=Limits)
    sandbox: bool = True  #: False: --no-sandbox (limits only)
    binds: list = field(default_factory=list)  #: extra read-only host paths (a kernel's connection folder: rw)
    rw_binds: list = field(default_factory=list)
    env: dict = field(default_factory=dict)  #: the command's whole environment (nothing else is inherited)
    report: str = ""  #: where the launcher writes why it stopped the command (a grader-owned path)
    quiet: bool = False  #: the command's stdout and stderr go nowhere (a kernel: its outputs travel as messages)

    @classmethod
    def from_dict(cls, d: dict) -> "SandboxConfig":
        d = dict(d)
        d["limits"] = Limits(**d.get("limits", {}))
        return cls(**d)


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


_PROBED: dict = {}


def require_bwrap() -> str:
    """The path of a working ``bwrap``, or :class:`SandboxUnavailable` saying what to do."""
    path = bwrap_path()
    if path is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed, and grading runs every submission in a "
                                 f"sandbox: {INSTALL_HINT}")
    if path not in _PROBED:
        r = subprocess.run([path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                           capture_output=True, text=True)
        _PROBED[path] = (r.returncode, r.stderr.strip())
    rc, err = _PROBED[path]
    if rc != 0:
        raise SandboxUnavailable(f"bwrap cannot make a sandbox here ({err or f'exit status {rc}'}): unprivileged "
                                 f"user namespaces may be off (`sudo sysctl -w kernel.unprivileged_userns_clone=1`, "
                                 f"or on Ubuntu 24.04 an AppArmor profile for bwrap); or grade with --no-sandbox "
                                 f"(unsafe)")
    return path


# ------------------------------------------------------------------ what the sandbox sees
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "hosts", "nsswitch.conf", "passwd", "group",
        "alternatives", "fonts", "mime.types", "ssl/certs")


def _library_paths() -> list:
    """Read-only: the interpreter, the environment, course_lib (and nothing else of a source checkout)."""
    import course_lib

    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix, sys.base_prefix,
             os.path.dirname(os.path.abspath(course_lib.__file__))}
    exe = os.path.realpath(sys.executable)
    paths.add(os.path.dirname(os.path.dirname(exe)))
    return sorted(p for p in paths if os.path.exists(p))


def bwrap_argv(cfg: SandboxConfig, command: list, bwrap: str = "bwrap") -> list:
    """The bwrap command line that runs ``command`` in ``cfg``'s sandbox."""
    lim = cfg.limits
    a = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
         "--hostname", "sandbox", "--clearenv"]
    for d in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            a += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            a += ["--ro-bind", d, d]
    for name in _ETC:
        p = os.path.join("/etc", name)
        if os.path.exists(p):
            a += ["--ro-bind", p, p]
    a += ["--proc", "/proc", "--dev", "/dev"]
    for n in sorted(os.listdir("/dev")):  # a CUDA GPU, where there is one
        if n.startswith("nvidia"):
            a += ["--dev-bind", f"/dev/{n}", f"/dev/{n}"]
    a += ["--size", str(lim.tmp_mb << 20), "--tmpfs", "/tmp"]
    a += ["--size", str(lim.tmp_mb << 20), "--tmpfs", "/home/student"]
    for p in _library_paths() + list(cfg.binds):
        a += ["--ro-bind", p, p]
    for p in cfg.rw_binds:
        a += ["--bind", p, p]
    a += ["--bind", cfg.workdir, cfg.workdir, "--chdir", cfg.workdir]
    env = dict(cfg.env)
    env.setdefault("HOME", "/home/student")
    for k, v in sorted(env.items()):
        a += ["--setenv", k, str(v)]
    return a + ["--", *command]


# ------------------------------------------------------------------ limits
class _Cgroup:
    """A cgroup of its own for memory and processes, where this process may make one (root; v1 or v2)."""

    def __init__(self, name: str, limits: Limits):
        self.dirs, self.kind = {}, None
        base = "/sys/fs/cgroup"
        try:
            if os.path.exists(os.path.join(base, "cgroup.controllers")):  # v2
                d = os.path.join(base, name)
                os.mkdir(d)
                self.dirs = {"unified": d}
                _write(os.path.join(d, "memory.max"), limits.memory_mb << 20)
                _write(os.path.join(d, "memory.swap.max"), 0, required=False)
                _write(os.path.join(d, "pids.max"), limits.max_procs)
                self.kind = "cgroup v2"
            elif os.path.isdir(os.path.join(base, "memory")) and os.path.isdir(os.path.join(base, "pids")):  # v1
                for ctl in ("memory", "pids"):
                    d = os.path.join(base, ctl, name)
                    os.mkdir(d)
                    self.dirs[ctl] = d
                _write(os.path.join(self.dirs["memory"], "memory.limit_in_bytes"), limits.memory_mb << 20)
                _write(os.path.join(self.dirs["pids"], "pids.max"), limits.max_procs)
                self.kind = "cgroup v1"
        except OSError:
            self.remove()
            self.dirs, self.kind = {}, None

    def join(self) -> None:
        """Called in the child before exec: it and everything it starts are in the group."""
        for d in self.dirs.values():
            _write(os.path.join(d, "cgroup.procs"), os.getpid())

    def stopped_by(self) -> str | None:
        """Which limit the group hit: "memory", "processes" or None."""
        for d in self.dirs.values():
            for f, key, what in (("memory.events", "oom_kill", "memory"), ("memory.oom_control", "oom_kill", "memory"),
                                 ("pids.events", "max", "processes")):
                try:
                    for line in open(os.path.join(d, f)):
                        k, _, v = line.partition(" ")
                        if k == key and int(v) > 0:
                            return what
                except (OSError, ValueError):
                    pass
        return None

    def kill_all(self) -> None:
        for d in self.dirs.values():
            try:
                for pid in open(os.path.join(d, "cgroup.procs")).read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            except OSError:
                pass

    def remove(self) -> None:
        for d in self.dirs.values():
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy: the last processes are exiting
                    self.kill_all()
                    time.sleep(0.05)


def _write(path, value, required=True):
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError:
        if required:
            raise


def _dir_size(path: str, cap_entries: int = 200_000) -> tuple:
    """(bytes, entries) under ``path``, not following links; stops counting at ``cap_entries``."""
    total, n, stack = 0, 0, [path]
    while stack and n < cap_entries:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    n += 1
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        else:
                            total += e.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        pass
        except OSError:
            pass
    return total, n


def describe_stop(stop: str | None, limits: Limits) -> str:
    """One sentence for a student and an instructor: which limit stopped the run."""
    return {
        "time": f"it ran longer than the {limits.wall_s:.0f} s allowed for the whole notebook, and was stopped",
        "memory": f"it used more than the {limits.memory_mb} MiB of memory allowed, and was stopped",
        "processes": f"it started more than the {limits.max_procs} processes and threads allowed",
        "disk": f"it wrote more than the {limits.disk_mb} MiB allowed in its folder, and was stopped",
        "files": "it made more than 200,000 files in its folder, and was stopped",
    }.get(stop or "", "")


# ------------------------------------------------------------------ the launcher (trusted, outside the sandbox)
def launch(cfg: SandboxConfig, command: list, stdin=None, stdout=None, stderr=None) -> int:
    """Run ``command`` in ``cfg``'s sandbox with its limits, wait for it and return its exit status.

    Whatever stops it (a limit, or this launcher being killed) ends every process it started. Why it was
    stopped goes to ``cfg.report`` as JSON (``{"stop": "time" | "memory" | "processes" | "disk" | "files"}``).
    """
    import resource

    lim = cfg.limits
    argv = bwrap_argv(cfg, command, require_bwrap()) if cfg.sandbox else list(command)
    group = _Cgroup(f"course-grading-{os.getpid()}-{time.monotonic_ns()}", lim)
    root = os.geteuid() == 0
    gpu = any(n.startswith("nvidia") for n in os.listdir("/dev"))

    def child():
        os.setsid()
        if group.kind:
            group.join()
        else:
            if not gpu:  # CUDA reserves far more address space than it uses: a limit on it would stop CUDA itself
                resource.setrlimit(resource.RLIMIT_AS, (lim.memory_mb << 20,) * 2)
            if not root:
                resource.setrlimit(resource.RLIMIT_NPROC, (lim.max_procs,) * 2)
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim.disk_mb << 20,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    env = None if cfg.sandbox else {**cfg.env, "HOME": cfg.env.get("HOME", os.environ.get("HOME", "/tmp"))}
    if cfg.quiet:  # a flood written straight to the kernel's file descriptors cannot reach the grader
        stdout = stderr = subprocess.DEVNULL
    stop = None
    proc = subprocess.Popen(argv, cwd=cfg.workdir, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
                            preexec_fn=child)

    def kill():
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        group.kill_all()

    # the launcher's own end (the kernel manager kills it at shutdown) ends the sandbox
    def on_term(signum, frame):
        kill()
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, lambda s, f: os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None)
    deadline = time.monotonic() + lim.wall_s
    try:
        while proc.poll() is None:
            try:
                proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                stop = "time"
            else:
                size, n = _dir_size(cfg.workdir)
                if size > lim.disk_mb << 20:
                    stop = "disk"
                elif n >= 200_000:
                    stop = "files"
            if stop:
                kill()
                proc.wait()
    finally:
        if proc.poll() is None:
            kill()
            proc.wait()
        stop = stop or group.stopped_by()
        if stop is None and proc.returncode and _dir_size(cfg.workdir)[0] >= (lim.disk_mb - 1) << 20:
            stop = "disk"  # RLIMIT_FSIZE refused a write before the watchdog saw the folder grow
        if not cfg.sandbox:  # no PID namespace: end whatever is left in its session
            kill()
        group.remove()
    if cfg.report:
        with open(cfg.report, "w") as f:
            json.dump({"stop": stop, "returncode": proc.returncode, "limits_by": group.kind or "setrlimit"}, f)
    return proc.returncode


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    stop: str | None  #: the limit that stopped it, if one did
    seconds: float


def _drain(pipe, keep: int, out: list):
    """Read a pipe to its end, keeping the first ``keep`` bytes (a flood cannot fill the grader's memory)."""
    buf, n = bytearray(), 0
    while True:
        chunk = pipe.read(65536)
        if not chunk:
            break
        n += len(chunk)
        if len(buf) < keep:
            buf += chunk[: keep - len(buf)]
    out.append(buf.decode("utf-8", "replace") + (f"\n[... {n - keep} more bytes dropped]" if n > keep else ""))


def run(cfg: SandboxConfig, command: list, stdin_bytes: bytes | None = None, keep: int = 1 << 20) -> RunResult:
    """:func:`launch` in a fresh launcher process, capturing at most ``keep`` bytes of stdout and of stderr."""
    import tempfile

    from .evaluate_policy import fresh_python

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="course_sandbox_") as tmp:
        cfg = SandboxConfig(**{**asdict(cfg), "limits": cfg.limits, "report": os.path.join(tmp, "report.json")})
        conf = os.path.join(tmp, "config.json")
        with open(conf, "w") as f:
            json.dump(asdict(cfg), f)
        proc = subprocess.Popen(fresh_python("course_lib.grading.sandbox", "launch", conf, "--", *command),
                                stdin=subprocess.PIPE if stdin_bytes is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_launcher_env())
        outs, errs = [], []
        threads = [threading.Thread(target=_drain, args=(proc.stdout, keep, outs), daemon=True),
                   threading.Thread(target=_drain, args=(proc.stderr, keep, errs), daemon=True)]
        for t in threads:
            t.start()
        if stdin_bytes is not None:
            try:
                proc.stdin.write(stdin_bytes)
                proc.stdin.close()
            except BrokenPipeError:
                pass
        rc = proc.wait()
        for t in threads:
            t.join(timeout=5)
        try:
            report = json.load(open(cfg.report))
        except (OSError, ValueError):
            report = {}
    return RunResult(report.get("returncode", rc), (outs or [""])[0], (errs or [""])[0], report.get("stop"),
                     time.perf_counter() - t0)


def _launcher_env() -> dict:
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "HOME")
    return {k: os.environ[k] for k in keep if k in os.environ}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) < 4 or argv[0] != "launch" or argv[2] != "--":
        print("usage: python -m course_lib.grading.sandbox launch CONFIG.json -- COMMAND ...", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        cfg = SandboxConfig.from_dict(json.load(f))
    try:
        return launch(cfg, argv[3:])
    except SandboxUnavailable as e:
        print(f"sandbox: {e}", file=sys.stderr)
        return 125


if __name__ == "__main__":
    sys.exit(main())
