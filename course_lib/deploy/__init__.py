"""Deployment (chapter 6): a trained policy, exported, drives the Panda in MuJoCo.

No one in the course has a Panda, so the policy is deployed to the next best
thing: the same robot (the same URDF) simulated by another engine, MuJoCo,
with its own integrator, actuators and timing. The difference between the
course's simulator and MuJoCo is the sim-to-real gap in miniature.

- :mod:`course_lib.deploy.mujoco_panda`: the MuJoCo Panda, built to mirror the
  reach task's drives (:func:`build_panda_model`, :class:`MujocoPanda`);
- :mod:`course_lib.deploy.reach`: the 60 Hz control loop on fixed episodes,
  with gap options (:func:`deploy`, :func:`reach_episodes`);
- :mod:`course_lib.deploy.latency`: the policy's inference time per step.

MuJoCo and onnxruntime are imported when they are needed.
"""
from .latency import inference_latency
from .mujoco_panda import MujocoPanda, PandaMujocoCfg, build_panda_model, urdf_joint_limits
from .reach import (CHAPTER_SENSOR_NOISE, TRANSFER_GAPS, DeployResult, ReachDeployCfg, deploy, reach_episodes,
                    reference_observation, time_to_reach)

__all__ = ["MujocoPanda", "PandaMujocoCfg", "build_panda_model", "urdf_joint_limits", "deploy", "DeployResult",
           "ReachDeployCfg", "reach_episodes", "time_to_reach", "CHAPTER_SENSOR_NOISE", "inference_latency",
           "reference_observation", "TRANSFER_GAPS"]
