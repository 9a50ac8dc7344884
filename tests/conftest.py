import os
import shutil
import tempfile

import pytest

# Tests must never reach the network; Hub tests point HF_ENDPOINT at a local server themselves.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def pytest_configure(config):
    # Two xdist workers share the cores: one torch thread each, not two OpenMP teams spinning on two cores.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
        # Gradio's copies of served files in a folder of this worker's own: one worker's app pruning them
        # (demo.housekeeping.prune_served_copies) never deletes what the other worker's app is serving.
        if "GRADIO_TEMP_DIR" not in os.environ:
            folder = tempfile.mkdtemp(prefix="rlcore-tests-gradio-")
            os.environ["GRADIO_TEMP_DIR"] = folder
            config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
