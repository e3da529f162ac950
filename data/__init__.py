"""Data: loading, validation, stats, splits, tokenizers and tf.data pipelines."""
