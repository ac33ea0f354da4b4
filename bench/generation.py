"""The pipeline's LLM path beside plain llama-cpp-python, on the same packed prompts, in one run.

    python bench/generation.py [--preset quality] [--questions 4] [--max-tokens 64] [--sweep]

Prompts are what the answerer really sends: retrieval + packing for questions on `data/` and on
SQuAD paragraphs. Each prompt goes through
  * raw_cold: a plain ``Llama`` reset before every prompt (nothing reused),
  * raw_warm: the same plain ``Llama``, prompts in a row (llama.cpp reuses the shared prefix),
  * pipeline_cold: ``LlamaCppLLM.stream`` with its context reset and no cached prefix,
  * pipeline_warm: ``LlamaCppLLM.stream`` as the API runs it, after a verification pass has
    overwritten the context (the cached instructions prefix is restored, not re-evaluated).
Prints JSON: TTFT p50, generated tokens/s and prompt tokens/s for each, and the ratios the
targets name (pipeline >= 0.95x raw tokens/s, TTFT <= 1.1x raw). ``--sweep`` adds llama.cpp
settings (threads, batch threads, batch size, flash attention) on the raw path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raw_llama import timed_raw
from sample_questions import QUESTIONS, SAMPLE_DATA

from api.resources import Resources
from rag.answering.llm import ChatMessage, GenerationStats, LlamaCppLLM
from rag.answering.prompting import instructions_prefix
from rag.bundled import preset_model_path
from rag.jsonl import read_jsonl_file
from rag.settings import LLMSettings, Settings

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "bench-data" / "squad-dev-13articles"


def squad_slice(folder: Path, paragraphs: int, questions: int) -> tuple[Path, list[str]]:
    """The first ``paragraphs`` SQuAD paragraphs as a BEIR corpus, and questions on them."""
    corpus = folder / "squad.jsonl"
    kept: set[str] = set()
    with open(SQUAD / "corpus.jsonl") as src, open(corpus, "w") as dst:
        for line, _ in zip(src, range(paragraphs), strict=False):
            kept.add(json.loads(line)["_id"])
            dst.write(line)
    asked: list[str] = []
    for row in read_jsonl_file(SQUAD / "qa.jsonl"):
        if row.value["doc_id"] in kept and len(asked) < questions:
            asked.append(row.value["question"])
    return corpus, asked


def timed_pipeline(llm: LlamaCppLLM, prompt: str, max_tokens: int, *, cold: bool) -> dict:
    if cold:
        saved = llm._prefix_state
        llm._prefix_state = None
        llm.llama.reset()
    else:  # as after an answer's verification pass: the context holds another prompt
        llm.yes_probability("Is this a verification prompt? Answer yes or no.")
    evaluated = llm.count_tokens(prompt) - (0 if cold else len(llm._prefix_tokens))
    stats = next(s for s in _stream(llm, prompt, max_tokens) if isinstance(s, GenerationStats))
    if cold:
        llm._prefix_state = saved
    ttft = stats.time_to_first_token_ms / 1000
    return {
        "ttft_s": ttft,
        "tokens_per_s": (stats.completion_tokens - 1) / (stats.generation_ms / 1000)
        if stats.completion_tokens > 1 and stats.generation_ms > 0
        else 0.0,
        "prompt_tokens_per_s": evaluated / ttft if ttft > 0 else 0.0,
        "evaluated_prompt_tokens": evaluated,
    }


def _stream(llm: LlamaCppLLM, prompt: str, max_tokens: int) -> Iterator[Any]:
    return llm.stream(prompt, max_tokens=max_tokens, temperature=0.0)


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    return {
        "ttft_p50_s": round(statistics.median(r["ttft_s"] for r in rows), 3),
        "tokens_per_s": round(statistics.mean(r["tokens_per_s"] for r in rows), 2),
        "prompt_tokens_per_s": round(statistics.mean(r["prompt_tokens_per_s"] for r in rows), 1),
        "evaluated_prompt_tokens_mean": round(
            statistics.mean(r["evaluated_prompt_tokens"] for r in rows), 1
        ),
    }


def sweep(path: Path, settings: LLMSettings, prompts: list[str], max_tokens: int) -> list[dict]:
    from llama_cpp import Llama

    configs = [
        {"n_threads": 1, "n_threads_batch": 2},
        {"n_threads": 2, "n_threads_batch": 2},
        {"n_threads": 1, "n_threads_batch": 1},
        {"n_threads": 1, "n_threads_batch": 2, "n_batch": 128},
        {"n_threads": 1, "n_threads_batch": 2, "flash_attn": True},
    ]
    results = []
    for config in configs:
        results.append(_raw_config(Llama, path, settings, prompts, max_tokens, config))
    # The same with one core kept busy by another process (a second client, an ingest).
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for config in configs[:1] + configs[2:3]:
            row = _raw_config(Llama, path, settings, prompts, max_tokens, config)
            results.append({**row, "one_core_busy": True})
    finally:
        hog.kill()
    return results


def _raw_config(
    llama_class: Any, path: Path, settings: LLMSettings, prompts: list[str], max_tokens: int,
    config: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    llama = llama_class(model_path=str(path), n_ctx=settings.n_ctx, verbose=False, **config)
    rows = [timed_raw(llama, p, max_tokens, reset=True) for p in prompts]
    result = {"config": config, **summary(rows)}
    print(json.dumps(result), flush=True)
    del llama
    return result


def paths_without_llm(answerer: Any, llm: LlamaCppLLM) -> dict[str, Any]:
    """The refusal path and the condense step: LLM calls and time each one costs."""
    history = [
        ChatMessage("user", "How much does a yearly membership cost?"),
        ChatMessage("assistant", "A yearly membership costs 30 EUR [1]."),
    ]
    rows: dict[str, Any] = {}
    cases = {
        "off_topic_refusal": ("What is the capital of Mongolia?", ()),
        "standalone_follow_up": ("When is the workshop open on Saturday?", history),
        "pronoun_follow_up": ("And how much is it for students?", history),
    }
    for name, (question, turns) in cases.items():
        calls = llm.calls
        answer = answerer.ask(question, history=turns, max_tokens=48)
        rows[name] = {
            "llm_calls": llm.calls - calls,
            "refused": answer.refused,
            "condense_ms": answer.timings.get("condense_ms"),
            "total_ms": answer.timings.get("total_ms"),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="quality", choices=["tiny", "small", "quality"])
    parser.add_argument("--questions", type=int, default=4, help="Per source (data/, SQuAD).")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--paths-only", action="store_true", help="Only the no-LLM paths.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "store",
            llm=LLMSettings(preset=args.preset),
            _env_file=None,  # type: ignore[call-arg]
        )
        resources = Resources(settings)
        squad_corpus, squad_questions = squad_slice(Path(tmp), 60, args.questions)
        resources.ingestor.ingest_paths([SAMPLE_DATA], collection="default")
        resources.ingestor.ingest_paths([squad_corpus], collection="squad")
        answerer = resources.answerer
        asked = QUESTIONS[: args.questions] + squad_questions
        prompts = [p for q in asked if (p := answerer.packed_prompt(q)) is not None]
        llm = resources.llm
        if args.paths_only:
            print(json.dumps(paths_without_llm(answerer, llm), indent=2))
            resources.close()
            return
        path = preset_model_path(args.preset, cache_dir=settings.llm.cache_dir)

        from llama_cpp import Llama

        raw = Llama(
            model_path=str(path),
            n_ctx=settings.llm.n_ctx,
            n_threads=settings.llm.n_threads,
            verbose=False,
        )
        raw_cold = [timed_raw(raw, p, args.max_tokens, reset=True) for p in prompts]
        timed_raw(raw, prompts[0], args.max_tokens, reset=False)  # the prefix in place
        raw_warm = [timed_raw(raw, p, args.max_tokens, reset=False) for p in prompts]
        pipe_cold = [timed_pipeline(llm, p, args.max_tokens, cold=True) for p in prompts]
        pipe_warm = [timed_pipeline(llm, p, args.max_tokens, cold=False) for p in prompts]
        result: dict[str, Any] = {
            "preset": args.preset,
            "prompts": len(prompts),
            "max_tokens": args.max_tokens,
            "n_threads": settings.llm.n_threads,
            "instructions_prefix_tokens": len(llm._prefix_tokens),
            "prefix_text_chars": len(instructions_prefix(llm.render)),
            "raw_cold": summary(raw_cold),
            "raw_warm": summary(raw_warm),
            "pipeline_cold": summary(pipe_cold),
            "pipeline_warm": summary(pipe_warm),
        }
        for kind in ("cold", "warm"):
            pipe, base = result[f"pipeline_{kind}"], result[f"raw_{kind}"]
            result[f"{kind}_tokens_per_s_ratio"] = round(
                pipe["tokens_per_s"] / base["tokens_per_s"], 3
            )
            result[f"{kind}_ttft_ratio"] = round(pipe["ttft_p50_s"] / base["ttft_p50_s"], 3)
        result["ttft_saved_by_prefix_reuse"] = round(
            1 - result["pipeline_warm"]["ttft_p50_s"] / result["pipeline_cold"]["ttft_p50_s"], 3
        )
        del raw
        if args.sweep:
            result["sweep"] = sweep(path, settings.llm, prompts, args.max_tokens)
        resources.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
