"""Entry point: `python app.py` serves the app (127.0.0.1:7860 here; a Space sets GRADIO_SERVER_NAME=0.0.0.0).

SIGINT (Ctrl-C) or SIGTERM stops it within seconds: running training runs save first (demo.serve)."""

from demo import serve

if __name__ == "__main__":
    serve(warm_up=True)
