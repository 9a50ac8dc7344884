"""How the app shows the paced bandit (tests/paced_system.py): the toy bandit's profile, its own label."""

from __future__ import annotations

import dataclasses

from toy_system_ui import PROFILE as BANDIT

PROFILE = dataclasses.replace(BANDIT, label="Paced bandit")
