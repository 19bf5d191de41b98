# nbgrader settings for students: what the Validate button uses. (`make lab` puts this folder on
# JUPYTER_CONFIG_PATH; in the student package it sits next to the notebooks: start `jupyter lab` there.)
c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file
c.Execute.timeout = 300  # seconds per cell: chapter 2 trains a policy in one cell (~10-60 s on a laptop CPU)
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "gpu-rl-course"  # the course's kernel (`python -m course_lib.grading.kernel` installs it)
