"""Generation throughput: the in-process model vs a pool of 1 and of 2 llama.cpp servers,
under the same concurrent load, in one run.

    python bench/llm_pool.py [--preset quality] [--clients 4] [--repeats 2] [--max-tokens 64]

The prompts are the answer prompts the pipeline packs for the sample questions (data/;
those it refuses before the LLM are left out).
``--clients`` threads send them at once through each generator; answers/minute counts the
finished generations over the wall time. The servers run on this machine (2 cores), so a
second server competes with the first for the same cores: expect little gain here. Prints
JSON, with a paper estimate for N machines (one server each) from the 1-server rate.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sample_questions import QUESTIONS, SAMPLE_DATA

from api.resources import Resources
from rag.answering.llm import LLM, GenerationStats, LlamaCppLLM
from rag.answering.llm_servers import load_generator
from rag.settings import LLMSettings, Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.llm_servers import LlamaServerProcess  # the tests' server process helper


def packed_prompts(llm_settings: LLMSettings, folder: Path) -> list[str]:
    settings = Settings(data_dir=folder, llm=llm_settings, _env_file=None)  # type: ignore[call-arg]
    resources = Resources(settings)
    resources.ingestor.ingest_paths([SAMPLE_DATA])
    prompts = [p for q in QUESTIONS if (p := resources.answerer.packed_prompt(q)) is not None]
    resources.close()
    return prompts


def load_test(llm: LLM, prompts: list[str], *, clients: int, max_tokens: int) -> dict[str, Any]:
    def generate(prompt: str) -> tuple[GenerationStats, float]:
        """The generation's stats and its time to first token as the client sees it
        (waiting for the model included)."""
        asked = time.perf_counter()
        first = None
        for piece in llm.stream(prompt, max_tokens=max_tokens, temperature=0.0):
            if isinstance(piece, GenerationStats):
                return piece, ((first or time.perf_counter()) - asked) * 1000
            first = first or time.perf_counter()
        raise AssertionError("a stream ends with its stats")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(generate, prompts))
    wall = time.perf_counter() - started
    return {
        "generations": len(results),
        "wall_s": round(wall, 1),
        "answers_per_minute": round(len(results) / wall * 60, 1),
        "tokens_per_s_total": round(sum(r.completion_tokens for r, _ in results) / wall, 1),
        # Seen by the client: includes the time queued behind other generations.
        "ttft_p50_ms": round(statistics.median(ttft for _, ttft in results)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="quality", choices=["tiny", "small", "quality"])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()
    llm_settings = LLMSettings(preset=args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        prompts = packed_prompts(llm_settings, Path(tmp)) * args.repeats
    report: dict[str, Any] = {"preset": args.preset, "clients": args.clients,
                              "max_tokens": args.max_tokens, "prompts": len(prompts)}  # fmt: skip
    local = LlamaCppLLM(llm_settings)
    report["in_process"] = load_test(
        local, prompts, clients=args.clients, max_tokens=args.max_tokens
    )
    del local
    servers = [LlamaServerProcess(llm_settings), LlamaServerProcess(llm_settings)]
    try:
        for count in (1, 2):
            for server in servers[:count]:
                if server.process is None:
                    server.start()
            pool = load_generator(
                llm_settings.model_copy(update={"servers": [s.url for s in servers[:count]]})
            )
            report[f"pool_{count}_servers"] = load_test(
                pool, prompts, clients=args.clients, max_tokens=args.max_tokens
            )
    finally:
        for server in servers:
            server.stop()
    one = report["pool_1_servers"]["answers_per_minute"]
    report["two_to_one_servers"] = round(report["pool_2_servers"]["answers_per_minute"] / one, 3)
    report["pool_1_to_in_process"] = round(one / report["in_process"]["answers_per_minute"], 3)
    # Generation on separate machines does not share cores: N servers ~ N x one server,
    # until the API processes or the store become the limit. An estimate, not a measurement.
    report["estimate_answers_per_minute_on_n_machines"] = {
        str(n): round(one * n) for n in (1, 4, 16)
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
