"""The chapter's randomizations and Exercise 5's, as ``randomization_params`` dictionaries."""
from __future__ import annotations

from .schema import merge_params

__all__ = ["CHAPTER_PHYSICS", "CHAPTER_OBSERVATION_NOISE", "CHAPTER_VISUALS", "CHAPTER_RANDOMIZATION",
           "EXERCISE5_TEST_SET", "EXERCISE5_TRAIN_RANDOMIZATION"]

#: The chapter's ``randomize_physics``: link masses +-20% (one scale per env for
#: every link, as the listing's single ``mass_scale``), joint friction 0.01..0.1
#: N m, surface friction 0.5..1.0, joint damping 0.1..0.6 N m s/rad. The
#: listing *sets* friction and damping; the reach task's nominal values are 0,
#: so "additive" on them gives exactly the listing's values.
CHAPTER_PHYSICS = {
    "frequency": 1,
    "actor_params": {
        "franka": {
            "rigid_body_properties": {
                "mass": {"range": [0.8, 1.2], "operation": "scaling", "distribution": "uniform", "shared": True},
            },
            "dof_properties": {
                "friction": {"range": [0.01, 0.1], "operation": "additive", "distribution": "uniform", "shared": True},
                "joint_damping": {"range": [0.1, 0.6], "operation": "additive", "distribution": "uniform",
                                  "shared": True},
            },
            "rigid_shape_properties": {  # nominal coefficient 1.0
                "friction": {"range": [0.5, 1.0], "operation": "scaling", "distribution": "uniform"},
            },
        },
    },
}

#: The chapter's ``add_observation_noise`` for the 17-dim reach observation:
#: joint positions 0.001 rad, joint velocities 0.01 rad/s, target 0.01 m (gaussian std).
CHAPTER_OBSERVATION_NOISE = {
    "observations": {
        "joint_pos": {"slice": [0, 7], "range": [0.0, 0.001], "operation": "additive", "distribution": "gaussian"},
        "joint_vel": {"slice": [7, 14], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
        "target": {"slice": [14, 17], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
    },
}

#: The chapter's ``randomize_visuals``: light 1000..3000 (nominal 2000 scaled by
#: 0.5..1.5), a uniform RGB object colour, camera offset +-5 cm per axis.
CHAPTER_VISUALS = {
    "actor_params": {"object": {"color": True}},
    "visuals": {
        "light_intensity": {"range": [0.5, 1.5], "operation": "scaling", "distribution": "uniform"},
        "camera_offset": {"range": [-0.05, 0.05], "operation": "additive", "distribution": "uniform"},
    },
}

#: The whole section: physics, observation noise and visuals.
CHAPTER_RANDOMIZATION = merge_params(CHAPTER_PHYSICS, CHAPTER_OBSERVATION_NOISE, CHAPTER_VISUALS)

#: Exercise 5's test set: "mass +-30%, friction +-50%", plus damping. The reach
#: task's nominal joint friction and damping are 0, and +-50% of 0 is 0; the
#: test set uses the middle of the chapter's training ranges as the nominal
#: instead: friction 0.05 N m +-50% (0.025..0.075), joint damping 0.35 N m s/rad
#: +-50% (0.175..0.525), written as additive on the task's zeros. Masses are
#: scaled 0.7..1.3, one scale per env for all links. (A harsher variant scales
#: the drives' damping ``dof_properties.damping`` by 0.5..1.5.)
EXERCISE5_TEST_SET = {
    "frequency": 1,
    "actor_params": {
        "franka": {
            "rigid_body_properties": {
                "mass": {"range": [0.7, 1.3], "operation": "scaling", "distribution": "uniform", "shared": True},
            },
            "dof_properties": {
                "friction": {"range": [0.025, 0.075], "operation": "additive", "distribution": "uniform",
                             "shared": True},
                "joint_damping": {"range": [0.175, 0.525], "operation": "additive", "distribution": "uniform",
                                  "shared": True},
            },
        },
    },
}


#: The randomization chapter 6 trains its *randomized* policy with: the same dict
#: as the ``TRAIN_RANDOMIZATION`` that the chapter 5 solution writes out (any
#: valid dict that randomizes masses, joint friction and damping earns that
#: exercise's point; the policy it trains is what is graded). Masses x0.6-1.4 (one scale per env,
#: wider than the test set's 0.7-1.3), the chapter's joint friction and damping
#: ranges, the chapter's observation noise, action noise std 0.02 and an
#: actuation latency of 0-1 control steps, re-drawn at every reset.
EXERCISE5_TRAIN_RANDOMIZATION = {
    "frequency": 1,  # re-draw an environment's physics at each of its resets
    "actor_params": {
        "franka": {
            "rigid_body_properties": {
                "mass": {"range": [0.6, 1.4], "operation": "scaling", "distribution": "uniform", "shared": True},
            },
            "dof_properties": {
                "friction": {"range": [0.01, 0.1], "operation": "additive", "distribution": "uniform",
                             "shared": True},
                "joint_damping": {"range": [0.1, 0.6], "operation": "additive", "distribution": "uniform",
                                  "shared": True},
            },
        },
    },
    "observations": {
        "joint_pos": {"slice": [0, 7], "range": [0.0, 0.001], "operation": "additive", "distribution": "gaussian"},
        "joint_vel": {"slice": [7, 14], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
        "target": {"slice": [14, 17], "range": [0.0, 0.01], "operation": "additive", "distribution": "gaussian"},
    },
    "actions": {"range": [0.0, 0.02], "operation": "additive", "distribution": "gaussian"},
    "actuation_latency": {"range": [0, 1]},
}
