"""The generation of the code at issue 16's filing (commit 9c2b643: models/inference.py, a whole-window
predict_on_batch and a keras-hub sampler per token), run from a checkout of that commit on a run of today's.

python bench/generation_before.py CHECKOUT RUN_DIR SEQ_LEN, then one JSON line per generation on stdin
({"prompt", "max_new_tokens", "temperature", "seed"}); each reply is a bench.common.REPLY line
{"text", "seconds"}. bench.generation drives it as its "issue-time code" arm.
"""

import json
import sys
import time
from pathlib import Path

REPLY = "@@bench "  # bench.common.REPLY; not imported: this process runs the old checkout's packages

if __name__ == "__main__":
    checkout, run_path, seq_len = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    sys.path.insert(0, checkout)
    from models.inference import LoadedRun, generate
    from models.safe_load import load_keras_model

    from data.tokenizers import load_tokenizer
    from models.run_dir import RunDir

    # That commit's load_run reads config.json, whose fields have grown since: load the model and tokenizer.
    run = RunDir(run_path)
    model = load_keras_model(run.model_path, compile=False)
    loaded = LoadedRun(run, model, load_tokenizer(run.tokenizer_dir), [], "causal_lm", seq_len)
    print(REPLY + json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        ask = json.loads(line)
        if ask.get("cmd") == "quit":
            break
        t0 = time.perf_counter()
        text = generate(loaded, ask["prompt"], max_new_tokens=ask["max_new_tokens"],
                        temperature=ask["temperature"], seed=ask["seed"])  # fmt: skip
        print(REPLY + json.dumps({"text": text, "seconds": time.perf_counter() - t0}), flush=True)
