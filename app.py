"""Entry point: `python app.py` serves the app (127.0.0.1:7860 here; a Space sets GRADIO_SERVER_NAME=0.0.0.0)."""

from demo import build_app
from demo.context import AppSettings

if __name__ == "__main__":
    app = build_app(warm_up=True)
    app.launch(**AppSettings.from_env().launch_options())
