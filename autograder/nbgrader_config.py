# nbgrader configuration of the course (nbgrader 0.9). The instructor's course root is this folder:
#
#   ../solutions/<assignment>/   source notebooks (solutions, visible and hidden tests)   [committed]
#   ../notebooks/<assignment>/   the student release, generated from them                  [committed]
#   submitted/ autograded/ feedback/ gradebook.db downloaded/                               [never committed]
#
# `course grade ...` (docs/instructors.md) runs nbgrader with this file. The environment variables
# COURSE_GRADING_ROOT, COURSE_SOURCE_DIR, COURSE_RELEASE_DIR move the three places (the tests grade in a
# temporary root that way); COURSE_CELL_TIMEOUT changes the time limit of one cell.
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
                                    LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

from course_lib.grading.kernel import KERNEL_NAME
from course_lib.grading.nbgrader_ext import CheckSubmission, QuietStderr, SandboxedGrade, StripHiddenTests

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file
here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "gpu-rl-robots"
c.CourseDirectory.root = os.environ.get("COURSE_GRADING_ROOT") or here
c.CourseDirectory.source_directory = os.environ.get("COURSE_SOURCE_DIR") or os.path.join(here, "..", "solutions")
c.CourseDirectory.release_directory = os.environ.get("COURSE_RELEASE_DIR") or os.path.join(here, "..", "notebooks")
# Never copied into a release or a submission: a run's checkpoints and logs, caches.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "runs", "*.pth", ".DS_Store"]

# Executing notebooks (autograde; the Validate button reads the Execute settings too).
# One cell may run for COURSE_CELL_TIMEOUT seconds (default 300: chapter 2's training cell takes ~10-60 s on a
# 2-core CPU). A cell that runs longer is interrupted, marked as an error, and the notebook goes on, so one cell
# that never ends costs that cell, not the rest of the notebook or the other students (nbgrader's Execute always
# goes on after a cell that raises: allow_errors is fixed to True there).
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT") or 300)
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.Execute.startup_timeout = 120
c.Execute.kernel_name = KERNEL_NAME  # the course's kernel (`python -m course_lib.grading.kernel` installs it)

# Autograde: nbgrader's pipeline with these changes (course_lib/grading/nbgrader_ext.py).
#  CheckSubmission (first): a notebook with a test or solution cell deleted, edited (tests), turned into markdown,
#    or with changed nbgrader metadata is not run; every test cell scores 0 and says why. Intact duplicates and
#    moved cells are graded normally.
#  SandboxedGrade (replaces Execute): the notebook runs in a kernel inside the submission's own bubblewrap sandbox
#    (no network, read-only library, nothing of the course root, its own PID namespace, limits on time, memory,
#    processes and disk), with its hidden tests removed; the solution cells run again in a fresh sandbox on the
#    grader's cases; a process that never ran student code judges the results, and that verdict is the grade.
#    COURSE_SANDBOX=off (`course grade autograde --no-sandbox`) keeps the limits only.
#  QuietStderr: library warnings and progress bars on stderr are dropped (nbgrader scores 0 a test cell with
#    anything on stderr), line by line, like nbgrader's IgnorePattern.
c.Autograde.sanitize_preprocessors = [
    CheckSubmission,
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
]
c.CheckSubmission.release_directory = c.CourseDirectory.release_directory
c.Autograde.autograde_preprocessors = [
    SandboxedGrade,
    QuietStderr,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
c.SandboxedGrade.sandbox = os.environ.get("COURSE_SANDBOX", "bwrap") != "off"
c.SandboxedGrade.notebook_timeout = int(os.environ.get("COURSE_NOTEBOOK_TIMEOUT") or 1800)
c.SandboxedGrade.memory_mb = int(os.environ.get("COURSE_SANDBOX_MEMORY_MB") or 8192)
c.SandboxedGrade.max_procs = int(os.environ.get("COURSE_SANDBOX_PROCS") or 512)
c.SandboxedGrade.disk_mb = int(os.environ.get("COURSE_SANDBOX_DISK_MB") or 2048)
c.SandboxedGrade.produce_timeout = 300
c.SandboxedGrade.judge_timeout = 900
c.SandboxedGrade.check_timeout = 60
c.LimitOutput.max_lines = 200  # a cell that floods its output keeps its first lines in the feedback
c.LimitOutput.max_length = 20000

# Feedback: nbgrader 0.9 keeps hidden tests in the feedback; StripHiddenTests removes them (and the
# tracebacks that would quote them).
c.GenerateFeedback.preprocessors = [GetGrades, StripHiddenTests, CSSHTMLHeaderPreprocessor]
