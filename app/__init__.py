"""keras-textlab application: CLI and Gradio UI over the engine."""
