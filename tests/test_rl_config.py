"""The chapter's training YAML in, rl-games 1.6.5 parameters out; device-aware defaults; clear errors."""
import os

import pytest
import yaml

from course_lib.rl.config import (CPU_PROFILES, ConfigError, apply_device_defaults, default_config_path,
                                  load_config, parse_config, to_rlgames)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHAPTER_YAML = """
# Environment settings
num_envs: 4096  # Number of parallel environments
env_spacing: 2.0  # Spacing between environments (meters)

# RL algorithm (PPO)
ppo:
  num_iterations: 1000  # Training iterations
  horizon_length: 16  # Steps per environment before policy update
  minibatch_size: 32768  # Samples per gradient update
  learning_rate: 0.001
  gamma: 0.99  # Discount factor
  lam: 0.95  # GAE lambda
  clip_param: 0.2  # PPO clipping
  entropy_coef: 0.0
  value_loss_coef: 2.0
  max_grad_norm: 1.0

# Network architecture
network:
  name: "ActorCritic"
  separate: False  # Shared trunk for actor and critic
  mlp:
    units: [256, 128, 64]  # Hidden layer sizes
    activation: "elu"
    initializer: "default"
"""


def chapter():
    return yaml.safe_load(CHAPTER_YAML)


def test_shipped_reach_config_is_the_chapters_file():
    assert yaml.safe_load(open(os.path.join(ROOT, "configs", "franka_reach.yaml"))) == chapter()


def test_packaged_configs_equal_the_repository_ones():
    for task in ("franka_reach", "cartpole"):
        with open(os.path.join(ROOT, "configs", f"{task}.yaml")) as a, open(default_config_path(task)) as b:
            assert a.read() == b.read(), task


def test_chapter_yaml_translates_to_rlgames_params():
    cfg = load_config(chapter(), task="franka_reach")
    p = to_rlgames(cfg, task="franka_reach", device="cuda", seed=3, run_name="r", runs_dir="runs")["params"]
    assert p["seed"] == 3
    assert p["algo"]["name"] == "a2c_continuous"
    assert p["model"]["name"] == "continuous_a2c_logstd"
    net = p["network"]
    assert net["name"] == "actor_critic" and net["separate"] is False
    assert net["mlp"]["units"] == [256, 128, 64] and net["mlp"]["activation"] == "elu"
    assert net["mlp"]["initializer"] == {"name": "default"}
    assert "continuous" in net["space"]
    c = p["config"]
    expected = {"num_actors": 4096, "horizon_length": 16, "minibatch_size": 32768, "learning_rate": 0.001,
                "gamma": 0.99, "tau": 0.95, "e_clip": 0.2, "entropy_coef": 0.0, "critic_coef": 2.0,
                "grad_norm": 1.0, "truncate_grads": True, "max_epochs": 1000, "normalize_input": True,
                "normalize_value": True, "value_bootstrap": True, "env_name": "rlgpu", "device": "cuda:0",
                "train_dir": "runs", "full_experiment_name": "r", "torch_compile": False}
    # torch_compile is decided by apply_device_defaults; to_rlgames alone keeps the file's (None -> off)
    for k, v in expected.items():
        if k != "torch_compile":
            assert c[k] == v, k


def test_rlgames_accepts_the_params():
    """rl-games' own builders take the network part (the whole run is tested in test_rl_train)."""
    from rl_games.algos_torch import model_builder

    cfg = load_config(chapter(), task="franka_reach")
    p = to_rlgames(cfg, task="franka_reach", device="cpu", seed=0, run_name="r", runs_dir="runs")["params"]
    model = model_builder.ModelBuilder().load(p)
    net = model.build({"actions_num": 7, "input_shape": (17,), "num_seqs": 1, "value_size": 1,
                       "normalize_value": True, "normalize_input": True})
    names = dict(net.named_parameters())
    assert names["a2c_network.actor_mlp.0.weight"].shape == (256, 17)
    assert names["a2c_network.mu.weight"].shape == (7, 64)


def test_cuda_keeps_the_files_numbers():
    cfg, changes = apply_device_defaults(load_config(chapter(), task="franka_reach"), "franka_reach", "cuda")
    assert cfg.num_envs == 4096 and cfg.ppo["minibatch_size"] == 32768 and cfg.ppo["num_iterations"] == 1000
    assert cfg.ppo["torch_compile"] is False  # measured: no gain, ~10 s of compilation
    assert {c[0] for c in changes} == {"ppo.torch_compile", "stepper_mode", "ppo.random_episode_start"}
    # compiled and graph-captured where triton can compile it (CUDA wheels ship it), else graph only
    import importlib.util

    want = "compile+graph" if importlib.util.find_spec("triton") else "graph"
    assert cfg.task_overrides["stepper_mode"] == want
    d = chapter()
    d["ppo"]["torch_compile"] = "reduce-overhead"
    cfg, _ = apply_device_defaults(load_config(d, task="franka_reach"), "franka_reach", "cuda")
    assert cfg.ppo["torch_compile"] == "reduce-overhead"


def test_cpu_shrinks_and_says_why():
    cfg, changes = apply_device_defaults(load_config(chapter(), task="franka_reach"), "franka_reach", "cpu")
    prof = CPU_PROFILES["franka_reach"]
    assert cfg.num_envs == prof["num_envs"]
    assert cfg.ppo["num_iterations"] == prof["num_iterations"]
    # the file's 2 minibatches per rollout are kept
    assert cfg.ppo["minibatch_size"] * 2 == cfg.num_envs * cfg.ppo["horizon_length"]
    assert cfg.ppo["torch_compile"] is False
    keys = {c[0] for c in changes}
    assert {"num_envs", "ppo.num_iterations", "ppo.minibatch_size", "ppo.torch_compile"} <= keys
    assert all(c[3] for c in changes)  # every change has a reason


def test_explicit_values_win_on_the_cpu():
    cfg, changes = apply_device_defaults(load_config(chapter(), task="franka_reach"), "franka_reach", "cpu",
                                         {"num_envs": 64, "num_iterations": 3})
    assert cfg.num_envs == 64 and cfg.ppo["num_iterations"] == 3
    assert cfg.ppo["minibatch_size"] == 512


def test_task_keys_go_to_the_task():
    d = chapter()
    d["max_episode_length"] = 200
    cfg = parse_config(d, source="x.yaml", task="franka_reach")
    assert cfg.task_overrides == {"max_episode_length": 200}


def _err(d, match, task="franka_reach"):
    with pytest.raises(ConfigError, match=match) as e:
        parse_config(d, source="my_config.yaml", task=task)
    assert "my_config.yaml" in str(e.value)


def test_unknown_top_level_key_is_named():
    d = chapter()
    d["num_env"] = 3
    _err(d, "'num_env'")


def test_unknown_ppo_key_is_named():
    d = chapter()
    d["ppo"]["learnig_rate"] = 0.1
    _err(d, "ppo.learnig_rate")


def test_missing_ppo_key_is_named():
    d = chapter()
    del d["ppo"]["gamma"]
    _err(d, "missing key 'ppo.gamma'")


@pytest.mark.parametrize("key", ["num_envs", "ppo", "network"])
def test_missing_sections_are_named(key):
    d = chapter()
    del d[key]
    _err(d, f"missing key '{key}'")


def test_bad_values_are_named():
    d = chapter()
    d["network"]["mlp"]["activation"] = "leaky"
    _err(d, "network.mlp.activation")
    d = chapter()
    d["network"]["mlp"]["units"] = [256, -1]
    _err(d, "network.mlp.units")
    d = chapter()
    d["network"]["mlp"]["unit"] = [1]
    _err(d, "network.mlp.unit")
    d = chapter()
    d["ppo"]["horizon_length"] = "16"
    _err(d, "ppo.horizon_length")
    d = chapter()
    d["network"]["name"] = "Transformer"
    _err(d, "network.name")


def test_minibatch_must_divide_the_rollout():
    d = chapter()
    d["ppo"]["minibatch_size"] = 30000
    cfg = parse_config(d, source="my_config.yaml", task="franka_reach")
    with pytest.raises(ConfigError, match="minibatch_size.*my_config.yaml"):
        apply_device_defaults(cfg, "franka_reach", "cuda")


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("num_envs: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        load_config(str(bad))
    other = tmp_path / "other.yaml"
    d = chapter()
    d["ppo"]["gama"] = 0.9
    other.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=r"ppo\.gama.*other\.yaml|other\.yaml.*ppo\.gama"):
        load_config(str(other), task="franka_reach")


def test_random_episode_start_is_the_reach_tasks_default_and_the_file_wins():
    """On for the reach task (printed as a change), off for the cart-pole (a shortened first episode would count
    as a success there), and whatever the file says where it says it."""
    cfg, changes = apply_device_defaults(load_config(chapter(), task="franka_reach"), "franka_reach", "cpu")
    assert cfg.ppo["random_episode_start"] is True
    assert [c for c in changes if c[0] == "ppo.random_episode_start"][0][1:3] == ("off", True)
    cfg, changes = apply_device_defaults(load_config(None, task="cartpole"), "cartpole", "cpu")
    assert cfg.ppo["random_episode_start"] is False and "ppo.random_episode_start" not in {c[0] for c in changes}
    d = chapter()
    d["ppo"]["random_episode_start"] = False
    cfg, changes = apply_device_defaults(load_config(d, task="franka_reach"), "franka_reach", "cpu")
    assert cfg.ppo["random_episode_start"] is False and "ppo.random_episode_start" not in {c[0] for c in changes}
    d["ppo"]["random_episode_start"] = "yes"
    with pytest.raises(ConfigError, match="ppo.random_episode_start in config dict must be true or false"):
        load_config(d, task="franka_reach")
