"""A task's hook points: where a randomizer, a grader or the base class add to a task's methods, in one place.

The chapter's tasks write ``reset_idx``, ``pre_physics_step`` and ``compute_observations`` (and may call
``set_joint_positions``) themselves, and the chapter's listing calls them from its own ``step``. What the
library adds around those methods is declared here instead of swapping the methods on an instance:

==========================  ======================================  ===============================================
hook                        signature                               runs
==========================  ======================================  ===============================================
``"before_reset"``          ``f(env_ids) -> None``                  before ``reset_idx`` (the randomizer re-draws)
``"actions"``               ``f(actions) -> actions``               before ``pre_physics_step``, which gets what
                                                                    the last hook returns (latency, action noise)
``"observations"``          ``f(obs) -> obs``                       after ``compute_observations``, on what it
                                                                    returned (observation noise)
``"set_joint_positions"``   ``f(env_ids, positions) -> None``       before ``set_joint_positions``, with what was
                                                                    asked (a grader records it)
==========================  ======================================  ===============================================

After every ``reset_idx`` the base class runs its own check, :meth:`VecEnvBase._after_reset_idx` (the
listing's missing ``progress_buf`` reset).

How: :class:`HookPoint` is the class attribute that a task's method of one of these names becomes when its
class is defined (``VecEnvBase.__init_subclass__``). Called on an instance (``env.reset_idx(ids)``, the
listing's ``self.reset_idx(...)``) it runs the hooks around the task's own function; looked up on the class
(``type(env).reset_idx(env, ids)``) it *is* the task's own function, with nothing around it: what a grader
tests. Calls nested in the same hook point (``super().reset_idx(ids)`` inside an override) run the hooks once,
at the outermost call. A hook is added with an ``owner`` (``env.add_hook(point, fn, owner=...)``) and removed
with all of that owner's (``env.remove_hooks(owner)``).
"""
from __future__ import annotations

import functools

__all__ = ["HOOKS", "HOOKED_METHODS", "HookPoint", "TaskHooks", "install_hook_points"]

#: the hooks a task has, in the order of the table above
HOOKS = ("before_reset", "actions", "observations", "set_joint_positions")


def _reset_idx(env, fn, env_ids, *args, **kwargs):
    for _, hook in env._hooks.entries("before_reset"):
        hook(env_ids)
    out = fn(env, env_ids, *args, **kwargs)
    env._after_reset_idx(env_ids)
    return out


def _pre_physics_step(env, fn, actions, *args, **kwargs):
    for _, hook in env._hooks.entries("actions"):
        actions = hook(actions)
    return fn(env, actions, *args, **kwargs)


def _compute_observations(env, fn, *args, **kwargs):
    out = fn(env, *args, **kwargs)
    for _, hook in env._hooks.entries("observations"):
        out = hook(out)
    return out


def _set_joint_positions(env, fn, env_ids, positions, *args, **kwargs):
    for _, hook in env._hooks.entries("set_joint_positions"):
        hook(env_ids, positions)
    return fn(env, env_ids, positions, *args, **kwargs)


#: method name -> (the hook that runs around it, how: run(env, the task's function, *args)). ``reset_idx`` is
#: always run through its hook point (the base class's check comes after it); the others only while a hook of
#: theirs is added (else the task's method is looked up as an ordinary method: nothing in between).
HOOKED_METHODS = {
    "reset_idx": ("before_reset", _reset_idx),
    "pre_physics_step": ("actions", _pre_physics_step),
    "compute_observations": ("observations", _compute_observations),
    "set_joint_positions": ("set_joint_positions", _set_joint_positions),
}


class TaskHooks:
    """The hooks of one task instance: for each hook name, a list of ``(owner, fn)`` in the order added."""

    def __init__(self):
        self._lists = {name: [] for name in HOOKS}
        self.active: set = set()  # hook points being run now (a nested call runs the task's function alone)

    def add(self, name: str, fn, owner=None) -> None:
        if name not in self._lists:
            raise ValueError(f"unknown hook {name!r}; hooks: {list(HOOKS)}")
        self._lists[name].append((owner, fn))

    def remove(self, owner) -> None:
        for name, entries in self._lists.items():
            self._lists[name] = [(o, f) for o, f in entries if o is not owner]

    def entries(self, name: str) -> list:
        return self._lists[name]

    def changes_step(self) -> bool:
        """Whether a hook changes what a step does (so the whole step cannot be one CUDA graph)."""
        return any(self._lists[name] for name in ("before_reset", "actions", "observations"))

    def __repr__(self) -> str:
        parts = [f"{n}: {[getattr(o, '__class__', type(o)).__name__ for o, _ in e]}"
                 for n, e in self._lists.items() if e]
        return f"TaskHooks({', '.join(parts) or 'none'})"


class HookPoint:
    """A task method with hooks around it when called on an instance; the plain function on the class."""

    def __init__(self, fn, name: str):
        self.fn = fn
        self.name = name
        self.hook, self.run = HOOKED_METHODS[name]
        self.always = name == "reset_idx"
        functools.update_wrapper(self, fn)  # help(), __doc__ and __wrapped__ of the class attribute

    def __get__(self, env, owner=None):
        if env is None:
            return self.fn  # type(env).reset_idx: the task's own method, nothing around it
        fn, name, run = self.fn, self.name, self.run
        hooks = env.__dict__.get("_hooks")
        if hooks is None or name in hooks.active or not (self.always or hooks.entries(self.hook)):
            # before VecEnvBase.__init__, nested in the same hook point (super()), or no hook to run
            return fn.__get__(env, owner)

        def hooked(*args, **kwargs):
            if name in hooks.active:
                return fn(env, *args, **kwargs)
            hooks.active.add(name)
            try:
                return run(env, fn, *args, **kwargs)
            finally:
                hooks.active.discard(name)

        hooked.__name__, hooked.__qualname__, hooked.__doc__ = name, fn.__qualname__, fn.__doc__
        hooked.__wrapped__ = fn.__get__(env, owner)  # inspect.signature: the bound method's
        return hooked


def install_hook_points(cls) -> None:
    """Make the methods of ``cls`` (defined in its own body) named in :data:`HOOKED_METHODS` hook points."""
    for name in HOOKED_METHODS:
        fn = cls.__dict__.get(name)
        if callable(fn) and not isinstance(fn, (HookPoint, staticmethod, classmethod, property)):
            setattr(cls, name, HookPoint(fn, name))
