"""Mario: PyTorch's Double DQN tutorial on Super Mario Bros., fast on a CPU.

Reading order: env.py (the emulator and the tutorial's preprocessing in one wrapper) -> net.py
(MarioNet) -> replay.py (one frame per transition) -> agent.py (the tutorial's `Mario` API; the
Double DQN update is `Mario.learn_step`) -> config.py (hyperparameters, the "fast" preset) ->
train.py (the resumable, overlapped training loop) -> play.py (evaluate, play back) -> api.py
(the rlcore.systems contract). Importing this package does not import the emulator.
"""
