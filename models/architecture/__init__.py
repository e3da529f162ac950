"""Architecture: ModelConfig -> keras.Model (backbones, layers, task heads, size presets and estimates)."""
