"""The package's version, in a module of its own so that any part of course_lib can read it without
importing the package's face (course_lib/__init__.py), which imports envs and, lazily, rl."""
__version__ = "0.1.0"
