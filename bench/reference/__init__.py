"""The tutorials' own code, ported only as far as today's libraries force, for benchmarks.

`pendulum_seed` is TorchRL's Pendulum tutorial (stateless env + backprop through rollouts);
`mario_tutorial` is PyTorch's Mario Double DQN tutorial. Bench scripts run them in the same
process as ours and report ratios. Nothing in `rlcore/` imports this package.
"""
