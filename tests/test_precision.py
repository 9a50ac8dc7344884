"""The learner's precision fits the CPU: `auto` (the fast preset's) picks bfloat16 only where the CPU
computes it natively (AVX-512 BF16 or AMX), and the choice is printed and saved in config.json."""

import dataclasses
import functools
import json

import torch
from mario_fake_env import make_fake_env

from rlcore.mario.agent import Mario
from rlcore.mario.config import MarioConfig, preset, resolve_precision
from rlcore.mario.train import train
from rlcore.runtime import cpu_flags, fast_bfloat16

# /proc/cpuinfo excerpts of the two kinds of x86 server CPU (flags trimmed)
AVX2_ONLY = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma bmi2\n"
SAPPHIRE_RAPIDS = (
    "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16 "
    "amx_bf16 amx_tile\n"
)
CPU = torch.device("cpu")


def test_cpu_flags_are_read_from_cpuinfo():
    assert "avx2" in cpu_flags(AVX2_ONLY) and "avx512_bf16" not in cpu_flags(AVX2_ONLY)
    assert {"avx512_bf16", "amx_bf16"} <= cpu_flags(SAPPHIRE_RAPIDS)
    assert cpu_flags("no flags line here") == frozenset()


def test_bfloat16_only_on_cpus_that_compute_it_natively():
    native, reason = fast_bfloat16(CPU, cpu_flags(AVX2_ONLY))
    assert not native and "no avx512_bf16 / amx_bf16" in reason
    native, reason = fast_bfloat16(CPU, cpu_flags(SAPPHIRE_RAPIDS))
    assert native and "avx512_bf16, amx_bf16" in reason
    assert (
        fast_bfloat16(CPU, frozenset({"avx512_bf16"}))[0] and fast_bfloat16(CPU, frozenset({"amx_bf16"}))[0]
    )


def test_auto_follows_this_machines_flags_and_explicit_choices_stay():
    expected = "bfloat16" if {"avx512_bf16", "amx_bf16"} & cpu_flags() else "float32"
    config, why = resolve_precision(preset("fast"), CPU)
    assert preset("fast").precision == "auto" and config.precision == expected and expected in why
    assert resolve_precision(MarioConfig(precision="bfloat16"), CPU) == (
        MarioConfig(precision="bfloat16"),
        None,
    )
    agent = Mario(config=MarioConfig(precision="auto", memory_size=64))
    assert agent.config.precision == expected and agent.net.bf16 == (expected == "bfloat16")


def test_training_with_auto_prints_and_saves_the_resolved_precision(tmp_path, capsys):
    config = MarioConfig(
        precision="auto",
        burnin=20,
        batch_size=8,
        memory_size=500,
        max_steps=40,
        log_every=1,
        checkpoint_every=10_000,
    )
    list(train(config, tmp_path, device="cpu", env_fn=functools.partial(make_fake_env, max_frames=60)))
    document = json.loads((tmp_path / "config.json").read_text())
    assert document["config"]["precision"] in ("float32", "bfloat16")
    assert document["precision_choice"].startswith(f"precision auto -> {document['config']['precision']}: ")
    assert document["precision_choice"] in capsys.readouterr().err
    resumed = Mario.load(tmp_path)  # the saved, resolved value is what a reload uses
    assert resumed.config.precision == document["config"]["precision"] and resumed.precision_choice is None
    resumed_config = dataclasses.replace(resumed.config, max_steps=80)
    fake_env = functools.partial(make_fake_env, max_frames=60)
    list(train(resumed_config, tmp_path, resume=True, device="cpu", env_fn=fake_env))
    again = json.loads((tmp_path / "config.json").read_text())
    assert again["state"]["step"] >= 80 and again["precision_choice"] == document["precision_choice"]
