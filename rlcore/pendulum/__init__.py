"""TorchRL's stateless, differentiable Pendulum, trained by backpropagation through rollouts."""

NAME = "pendulum"
ALGORITHM = "Differentiable rollouts (BPTT)"
# The dynamics, reward, limits and random starts are those of Gymnasium's Pendulum-v1
# (tests/test_pendulum_env.py checks them step by step), so scores compare with that env's.
ENV_ID = "Pendulum-v1"
