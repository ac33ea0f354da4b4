"""Per LLM preset, on the sample data: time to first token, tokens/s, answer latency, memory,
download size, and the same prompts through plain llama-cpp as the baseline (ratio).

    python bench/llm_presets.py [--presets tiny,small,quality] [--repeats 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from raw_llama import timed_raw
from sample_questions import QUESTIONS, SAMPLE_DATA

from api.resources import Resources
from rag.bundled import LLM_PRESETS, preset_model_path
from rag.evaluation import percentile
from rag.settings import LLMSettings, Settings


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def raw_llama(path: Path, settings: LLMSettings, prompts: list[str], max_tokens: int) -> dict:
    """The baseline: plain llama-cpp, same file, threads, context and prompts."""
    from llama_cpp import Llama

    llama = Llama(
        model_path=str(path), n_ctx=settings.n_ctx, n_threads=settings.n_threads, verbose=False
    )
    # reset: no prefix reuse, each prompt is measured cold, as in the pipeline
    rows = [timed_raw(llama, prompt, max_tokens, reset=True) for prompt in prompts]
    ttft = [row["ttft_s"] for row in rows]
    rates = [row["tokens_per_s"] for row in rows if row["generated_tokens"] > 1]
    return {
        "ttft_p50_s": round(percentile(ttft, 50), 2),
        "tokens_per_s_p50": round(percentile(rates, 50), 1),
    }


def measure(preset: str, data_dir: Path, repeats: int, threads: int) -> dict[str, Any]:
    llm_settings = LLMSettings(preset=preset, n_threads=threads)
    settings = Settings(data_dir=data_dir, llm=llm_settings, _env_file=None)
    resources = Resources(settings)
    resources.ingestor.ingest_paths([SAMPLE_DATA], collection="default")
    before = rss_mb()
    started = time.perf_counter()
    llm = resources.llm
    load_s = time.perf_counter() - started
    prompts: list[str] = []
    original = llm.stream

    def recording(prompt: str, **kwargs: Any) -> Any:
        prompts.append(prompt)
        return original(prompt, **kwargs)

    llm.stream = recording  # type: ignore[method-assign]
    ttft, rates, totals, refused = [], [], [], 0
    for _ in range(repeats):
        for question in QUESTIONS:
            answer = resources.answerer.ask(question)
            totals.append(answer.timings["total_ms"] / 1000)
            refused += answer.refused
            if "time_to_first_token_ms" in answer.timings:
                ttft.append(answer.timings["time_to_first_token_ms"] / 1000)
                rates.append(answer.timings["tokens_per_second"])
    llm.stream = original  # type: ignore[method-assign]
    path = preset_model_path(preset, cache_dir=settings.llm.cache_dir)
    pipeline = {
        "ttft_p50_s": round(percentile(ttft, 50), 2),
        "tokens_per_s_p50": round(percentile(rates, 50), 1),
        "answer_latency_p50_s": round(percentile(totals, 50), 2),
        "refused": refused,
    }
    answer_prompts = [p for p in prompts if "Sources:" in p]
    baseline = raw_llama(path, settings.llm, answer_prompts, settings.llm.max_tokens)
    resources.close()
    return {
        "preset": preset,
        "threads": threads,
        "model": LLM_PRESETS[preset].model,
        "download_mb": round(path.stat().st_size / 1e6),
        "load_s": round(load_s, 2),
        "rss_added_mb": round(rss_mb() - before),
        "pipeline": pipeline,
        "raw_llama_cpp": baseline,
        "ttft_ratio_pipeline_to_raw": round(pipeline["ttft_p50_s"] / baseline["ttft_p50_s"], 3)
        if baseline["ttft_p50_s"]
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", default="tiny,small,quality")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=LLMSettings().n_threads)
    args = parser.parse_args()
    results = []
    for preset in args.presets.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            results.append(measure(preset, Path(tmp), args.repeats, args.threads))
    print(json.dumps({"questions": QUESTIONS, "results": results}, indent=2))


if __name__ == "__main__":
    main()
