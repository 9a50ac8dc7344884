"""MarioNet: the tutorial's CNN, an online copy that learns and a frozen target copy."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from copy import deepcopy as copy_module

import torch
from torch import nn
from torchrl.modules import NoisyLinear, reset_noise

# How far below the mean of the actions both sets share a new action's Q value starts (Q units: the
# trained reward scale's), when a run changes the action set of the agent it starts from
NEW_ACTION_MARGIN = 0.1


def float_input(states: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 stacks -> float32 in [0, 1], in the network's layout (one combined conversion pass)."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return states.to(dtype=torch.float32, memory_format=layout).mul_(1 / 255.0)


class Float32Output:
    """Mixin for a network's output layer: it always computes in float32, even under bfloat16
    autocast, so Q values (and the small differences between actions) keep full precision."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.float())


class OutputLinear(Float32Output, nn.Linear):
    """The output layer of the tutorial's network."""


class HiddenNoisyLinear(NoisyLinear):
    """TorchRL's NoisyLinear (factorised Gaussian noise, Fortunato et al. 2018), noisy only in training
    mode (`MarioNet.exploring`), so evaluation and play-back use the mean weights. The noise sample is
    not saved: checkpoints hold mu and sigma, a fresh sample is drawn after every update."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, use_exploration_type=False)
        for name in ("weight_epsilon", "bias_epsilon"):
            self.register_buffer(name, getattr(self, name), persistent=False)


class NoisyOutputLinear(Float32Output, HiddenNoisyLinear):
    """The output layer with noisy weights (float32 like OutputLinear)."""


def linear_layers(noisy: bool) -> tuple[type[nn.Linear], type[nn.Linear]]:
    """(hidden, output) Linear classes of the head: NoisyNet layers with `noisy`."""
    return (HiddenNoisyLinear, NoisyOutputLinear) if noisy else (nn.Linear, OutputLinear)


class DuelingHead(nn.Module):
    """Q = V + A - mean(A) (Wang et al. 2016): an option for issue 6, off by default."""

    def __init__(self, in_features: int, output_dim: int, noisy: bool = False):
        super().__init__()
        hidden, output = linear_layers(noisy)
        self.value = nn.Sequential(hidden(in_features, 512), nn.ReLU(), output(512, 1))
        self.advantage = nn.Sequential(hidden(in_features, 512), nn.ReLU(), output(512, output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(x)
        return self.value(x) + advantage - advantage.mean(dim=1, keepdim=True)


class MarioNet(nn.Module):
    """mini CNN structure
    input -> (conv2d + relu) x 3 -> flatten -> (dense + relu) x 2 -> output

    Inputs are uint8 stacks (B, 4, 84, 84) scaled to [0, 1] here (the tutorial's env divided by 255;
    we keep uint8 in the env and the replay, 4x smaller). `forward(input, model)` with model
    "online" or "target", as in the tutorial. With `noisy`, the head's Linear layers are NoisyNet
    layers: sampled weights inside `exploring()`, their means everywhere else.
    """

    def __init__(
        self, input_dim: tuple[int, int, int], output_dim: int, dueling: bool = False, noisy: bool = False
    ):
        super().__init__()
        self.channels_last = False
        self.bf16 = False  # see use_bf16
        self._cache: dict = {}  # Q_target cast to bfloat16 (not a submodule: never in state_dict)
        c, h, w = input_dim
        if h != 84:
            raise ValueError(f"Expecting input height: 84, got: {h}")
        if w != 84:
            raise ValueError(f"Expecting input width: 84, got: {w}")
        self.online = self._build_cnn(c, output_dim, dueling, noisy)
        self.target = self._build_cnn(c, output_dim, dueling, noisy)
        self.target.load_state_dict(self.online.state_dict())
        # Q_target parameters are frozen.
        for p in self.target.parameters():
            p.requires_grad = False
        self.eval()  # the mean weights of noisy layers, except inside exploring()

    @contextmanager
    def exploring(self) -> Iterator[None]:
        """Noisy layers use their sampled weights inside (training's acting and learning updates); a
        no-op for the tutorial's network."""
        was_training = self.training
        self.train(True)
        try:
            yield
        finally:
            self.train(was_training)

    def resample_noise(self) -> None:
        """A new noise sample for both networks' noisy layers (after each learning update)."""
        self.apply(reset_noise)

    def forward(self, input: torch.Tensor, model: str) -> torch.Tensor:
        if model not in ("online", "target"):
            raise ValueError(f"model must be 'online' or 'target', got {model!r}")
        low = self._in_bf16_region(input)
        net = self.online if model == "online" else (self._target_in_bf16() if low else self.target)
        return net(self.prepare(input))

    @torch.no_grad()
    def prepare_and_target_values(
        self, input: torch.Tensor, device_type: str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(prepare(input), Q_target(input)) inside this thread's own `autocast()` region (autocast is
        per thread: the learner's helper thread calls this)."""
        with self.autocast(device_type):
            prepared = self.prepare(input)
            return prepared, self(prepared, model="target")

    def _in_bf16_region(self, input: torch.Tensor) -> bool:
        """bfloat16 runs only inside the learner's `autocast()` region (batch-32 updates, where the
        weights are cast once for several forwards). Everywhere else (acting, evaluation, play-back)
        the network runs in float32: a bfloat16 forward re-casts every weight, which costs more than
        it saves on small batches (batch 1: bench/README.md), and float32 gives the same
        greedy actions on any CPU."""
        return self.bf16 and torch.is_autocast_enabled(input.device.type)

    def prepare(self, input: torch.Tensor) -> torch.Tensor:
        """uint8 stacks -> the network's input: [0, 1] in the compute dtype and layout (other dtypes
        are taken as already prepared). Callers running both networks on one batch prepare it once."""
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        if input.dtype != torch.uint8:
            return input.contiguous(memory_format=layout)
        if self._in_bf16_region(input):  # uint8 -> bfloat16 first, then NHWC: quicker than one pass
            x = input.to(torch.bfloat16).contiguous(memory_format=layout)
            return x.mul_(1 / 255.0)
        return float_input(input, self.channels_last)

    def _target_in_bf16(self) -> nn.Module:
        """Q_target as autocast would run it. Autocast re-casts frozen (requires_grad=False) weights on
        every call (the 3136x512 layer's cast is a large part of a forward); Q_target only changes when it is
        synced or loaded, so its cast copy is kept until a weight's (or a noise sample's) version changes.
        Same values as autocast's own cast (round to nearest), so the same Q values bit for bit."""
        versions = tuple(
            (t.data_ptr(), t._version) for t in (*self.target.parameters(), *self.target.buffers())
        )
        if self._cache.get("target_versions") != versions:
            copy = copy_module(self.target)
            for module in copy.modules():  # the output layer keeps float32, as under autocast
                if isinstance(module, (nn.Conv2d, nn.Linear)) and not isinstance(module, Float32Output):
                    module.to(torch.bfloat16)
            self._cache.update(target=copy, target_versions=versions)
        return self._cache["target"].train(self.target.training)  # noisy layers: as Q_target is now

    def autocast(self, device_type: str = "cpu"):
        """The bfloat16 region of a learning update (a no-op in float32): forwards inside it run their
        hidden layers in bfloat16, and autocast casts the online weights once for all of them. The
        output layer always runs in float32 (OutputLinear)."""
        return torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.bf16)

    def use_channels_last(self, enabled: bool = True) -> "MarioNet":
        """Store conv weights NHWC and feed NHWC inputs (same maths, faster oneDNN kernels)."""
        self.channels_last = enabled
        return self.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)

    def use_bf16(self, enabled: bool = True) -> "MarioNet":
        """Run the hidden layers of learning updates (inside `autocast()`) in bfloat16 (weights,
        gradients and the output layer, so the Q values, stay float32)."""
        self.bf16 = enabled
        return self

    @staticmethod
    def _build_cnn(c: int, output_dim: int, dueling: bool, noisy: bool) -> nn.Sequential:
        features = [
            nn.Conv2d(in_channels=c, out_channels=32, kernel_size=8, stride=4),
            nn.ReLU(),
            nn.Conv2d(in_channels=32, out_channels=64, kernel_size=4, stride=2),
            nn.ReLU(),
            nn.Conv2d(in_channels=64, out_channels=64, kernel_size=3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        ]
        if dueling:
            return nn.Sequential(*features, DuelingHead(3136, output_dim, noisy))
        hidden, output = linear_layers(noisy)
        return nn.Sequential(*features, hidden(3136, 512), nn.ReLU(), output(512, output_dim))


def expand_action_rows(
    tensors: Mapping[str, torch.Tensor],
    module: nn.Module,
    rows: Sequence[int | None],
    margin: float = NEW_ACTION_MARGIN,
) -> dict[str, torch.Tensor]:
    """The weights of a Q network (`tensors`, a state_dict) -> weights for `module`, the same network for
    another action set: `rows[i]` is the index in the old set of new action i, or None for an action the
    old set lacks (`rlcore.mario.env.source_rows`).

    Every layer but the action output is kept. An action both sets have keeps its trained output row; a
    new action gets the mean of those rows, its bias `margin` lower, so its Q value is `margin` below the
    shared actions' mean in every state. So the greedy action is the one the agent started from picks
    (among the actions kept), and when no old action is dropped their Q values are unchanged too (a
    dueling head's value bias absorbs the lower mean advantage); the new actions are learnt by exploring.
    Without a shared action the output layer keeps `module`'s own initialisation."""
    shared = [(row, src) for row, src in enumerate(rows) if src is not None]
    outputs = [
        name
        for name, layer in module.named_modules()
        if isinstance(layer, Float32Output) and layer.out_features == len(rows)
    ]
    values = [
        name
        for name, layer in module.named_modules()
        if isinstance(layer, Float32Output) and layer.out_features == 1 and name not in outputs
    ]
    if len(outputs) != 1:
        raise ValueError(f"no single action output layer with {len(rows)} outputs in the network")
    fresh = module.state_dict()
    adapted = dict(tensors)
    for name in (key for key in fresh if key.startswith(f"{outputs[0]}.")):  # weight, bias (noisy: mu, sigma)
        weights = fresh[name].detach().clone()
        if shared:
            old = tensors[name].to(weights.dtype)
            new_rows = old[[src for _, src in shared]].mean(dim=0)
            if name == _bias_of(outputs[0], fresh):
                new_rows = new_rows - margin
            weights[:] = new_rows
            for row, src in shared:
                weights[row] = old[src]
        adapted[name] = weights
    if shared and values:  # dueling: Q = V + A - mean(A); the new rows lower mean(A), lower V as much
        bias = _bias_of(values[0], fresh)
        adapted[bias] = tensors[bias] - margin * (len(rows) - len(shared)) / len(rows)
    return adapted


def _bias_of(layer: str, state_dict: Mapping[str, torch.Tensor]) -> str:
    """The name of a layer's (mean) bias in a state_dict: `bias`, or a noisy layer's `bias_mu`."""
    return f"{layer}.bias_mu" if f"{layer}.bias_mu" in state_dict else f"{layer}.bias"


def match_noise(tensors: Mapping[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """Weights of the same network with or without NoisyNet layers -> weights for `module`: a plain
    layer's weight and bias become a noisy layer's means (its sigmas are `module`'s own initial ones),
    and a noisy layer's means become a plain layer's weights. So the greedy policy is unchanged."""
    fresh = module.state_dict()
    adapted = dict(tensors)
    for name, layer in module.named_modules():
        noisy = isinstance(layer, NoisyLinear)
        for part in ("weight", "bias"):
            mean, plain = f"{name}.{part}_mu", f"{name}.{part}"
            if noisy and mean not in tensors and plain in tensors:
                adapted[mean] = adapted.pop(plain)
                adapted[f"{name}.{part}_sigma"] = fresh[f"{name}.{part}_sigma"]
            elif isinstance(layer, nn.Linear) and not noisy and mean in tensors:
                adapted[plain] = adapted.pop(mean)
                adapted.pop(f"{name}.{part}_sigma", None)
    return adapted
