"""The chapter's FrankaReachTask listing (Step 1), verbatim but for its import line."""
from course_lib.envs import VecEnvBase
import torch
import numpy as np

class FrankaReachTask(VecEnvBase):
    def __init__(self, cfg, sim_device, graphics_device_id, headless):
        # Configuration
        self.num_envs = cfg["num_envs"]  # e.g., 4096 parallel environments
        self.num_obs = 17  # Observation dimension
        self.num_actions = 7  # Action dimension (7 Franka joints)

        # Initialize base class
        super().__init__(cfg, sim_device, graphics_device_id, headless)

        # Define observation and action spaces
        self.obs_buf = torch.zeros((self.num_envs, self.num_obs), device=self.device)
        self.rew_buf = torch.zeros(self.num_envs, device=self.device)
        self.reset_buf = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)

        # Target positions for each environment (randomized)
        self.targets = torch.zeros((self.num_envs, 3), device=self.device)

    def create_sim(self):
        """Create the simulation with Franka robots and targets."""
        # Add Franka robot for each environment
        for i in range(self.num_envs):
            # Create environment at offset position
            env_pos = torch.tensor([i % 64, i // 64, 0.0]) * 2.0  # Grid layout

            # Add Franka arm
            self.add_franka(env_pos)

            # Add target sphere (visual marker)
            self.add_target_sphere(env_pos + torch.tensor([0.5, 0.0, 0.3]))

    def compute_observations(self):
        """Compute observations for all environments."""
        # Get Franka joint positions and velocities (batched)
        joint_pos = self.get_joint_positions()  # Shape: (num_envs, 7)
        joint_vel = self.get_joint_velocities()  # Shape: (num_envs, 7)

        # Get end-effector position
        ee_pos = self.get_end_effector_position()  # Shape: (num_envs, 3)

        # Compute relative target position
        target_rel = self.targets - ee_pos  # Shape: (num_envs, 3)

        # Concatenate into observation vector
        self.obs_buf = torch.cat([joint_pos, joint_vel, target_rel], dim=-1)

        return self.obs_buf

    def compute_reward(self):
        """Compute rewards for all environments."""
        # Get end-effector position
        ee_pos = self.get_end_effector_position()

        # Distance to target
        distance = torch.norm(self.targets - ee_pos, dim=-1)

        # Reward: negative distance
        self.rew_buf = -distance

        # Action penalty (encourage smooth motion)
        action_penalty = torch.norm(self.actions, dim=-1)
        self.rew_buf -= 0.01 * action_penalty

        # Success bonus (if within 5cm of target)
        success_mask = distance < 0.05
        self.rew_buf[success_mask] += 10.0

        # Mark successful environments for reset
        self.reset_buf[success_mask] = 1

        return self.rew_buf

    def reset_idx(self, env_ids):
        """Reset specified environments."""
        # Randomize Franka joint positions
        self.set_joint_positions(env_ids, torch.rand((len(env_ids), 7)) * 0.5)

        # Randomize target positions
        self.targets[env_ids] = torch.rand((len(env_ids), 3)) * 0.6 + torch.tensor([0.3, -0.3, 0.2])

        # Reset buffers
        self.reset_buf[env_ids] = 0

    def step(self, actions):
        """Apply actions and step simulation."""
        self.actions = actions.clone()

        # Apply joint velocity commands
        self.set_joint_velocities(actions)

        # Step physics simulation
        self.simulate()
        self.render()

        # Compute observations and rewards
        obs = self.compute_observations()
        rewards = self.compute_reward()

        # Check for timeouts
        self.progress_buf += 1
        timeout_mask = self.progress_buf >= 500  # 500 steps = timeout
        self.reset_buf[timeout_mask] = 1

        # Reset environments that need it
        reset_env_ids = self.reset_buf.nonzero(as_tuple=False).squeeze(-1)
        if len(reset_env_ids) > 0:
            self.reset_idx(reset_env_ids)

        return obs, rewards, self.reset_buf, {}
