"""Throughput of `llamav serve` and of the `openai:` backend, on this machine.

    python benchmarks/serve_throughput.py [--requests 48] [--latency 0.5] [--serve-latency 2.0] [--streaming-only]

1. `llamav serve --model tiny-random`, batched (`--max-batch 16`) and one request at a time
   (`--max-batch 1`): requests/s and p50/p95 latency at concurrency 1, 4 and 16 (the official
   openai client, one thread per concurrent client; chat with a 32x32 image, 16 new tokens, greedy;
   every request its own image and question).
2. The `openai:` backend (`Reasoner.batch` over vrc-synth samples, protocol llamav-o1: four
   requests a sample, in order) against a server that takes a fixed latency per request: its
   requests/s as a share of the bound concurrency / latency. Two servers: a bare stub that only
   sleeps (the backend's own overhead), and `llamav serve --model tiny-random` in fault mode with
   only a latency (the model's time comes on top, so the share is lower by that much).
3. Token streaming: a streamed chat of 256 new tokens (tiny-random, greedy, one request at a time):
   when the first piece of text arrives against when the reply is done (the first must come in
   under 10% of the total, issue 22).

Prints markdown tables (docs/performance.md holds the measured ones).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from serve_support import Server, image_message, png_data_url  # noqa: E402

MODEL = "tiny-random"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def server_rows(batched: bool, requests: int, workdir: Path) -> list[tuple]:
    server = Server(["--model", MODEL, "--max-batch", "16" if batched else "1", "--queue-size", "64"],
                    workdir / f"serve-{batched}.log")
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=300)
    # Every request its own image and question, as from different users: a repeated request would
    # be answered from the backend's prompt cache and flatter the one-at-a-time path.
    messages = [
        [image_message(f"Describe image {i}.", png_data_url(((37 * i) % 256, (91 * i) % 256, (53 * i) % 256)))]
        for i in range(3 * requests + 2)
    ]
    counter = iter(range(len(messages)))

    def one(_: int) -> float:
        ask = messages[next(counter)]
        started = time.perf_counter()
        client.chat.completions.create(model=MODEL, messages=ask, max_tokens=16, temperature=0)
        return time.perf_counter() - started

    rows = []
    try:
        for _ in range(2):  # warm-up: first calls pay for lazy initialisation
            one(0)
        for concurrency in (1, 4, 16):
            before = httpx.get(server.base_url.removesuffix("/v1") + "/health").json()
            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                latencies = list(pool.map(one, range(requests)))
            wall = time.perf_counter() - started
            after = httpx.get(server.base_url.removesuffix("/v1") + "/health").json()
            mean_batch = (after["requests_run"] - before["requests_run"]) / max(1, after["batches_run"] - before["batches_run"])
            rows.append(("batched" if batched else "one at a time", concurrency, requests, requests / wall,
                         statistics.median(latencies), percentile(latencies, 0.95), mean_batch))
    finally:
        server.close()
    return rows


def streaming_rows(workdir: Path, repeats: int = 5, tokens: int = 256) -> list[tuple]:
    """(repeat, seconds to the first text chunk, seconds to the end, content chunks) of a streamed
    chat of `tokens` new tokens."""
    server = Server(["--model", MODEL, "--max-tokens", str(tokens)], workdir / "streaming.log")
    client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=300)
    rows = []
    try:
        for repeat in range(repeats + 1):  # the first is a warm-up
            started = time.perf_counter()
            first, pieces = None, 0
            for chunk in client.chat.completions.create(model=MODEL, max_tokens=tokens, temperature=0, stream=True,
                                                        messages=[{"role": "user", "content": f"Story {repeat}"}]):
                if chunk.choices and chunk.choices[0].delta.content:
                    first = first if first is not None else time.perf_counter() - started
                    pieces += 1
            if repeat:
                rows.append((repeat, first, time.perf_counter() - started, pieces))
    finally:
        server.close()
    return rows


def print_streaming(rows: list[tuple]) -> None:
    print("\n| streamed request | first chunk s | total s | first / total | content chunks |")
    print("|---|---|---|---|---|")
    for repeat, first, total, pieces in rows:
        print(f"| {repeat} | {first:.3f} | {total:.3f} | {first / total:.1%} | {pieces} |")


def backend_rows(latency: float, samples: int, base_url: str, label: str) -> list[tuple]:
    """The openai: backend over `samples` vrc-synth samples with protocol llamav-o1 (four requests
    a sample, in order), all handed to `Reasoner.batch` at once, at concurrency 1, 4 and 16."""
    from llamav.bench import load_source
    from llamav.models import load_model
    from llamav.reasoning import Reasoner

    bench = load_source(f"vrc-synth?size={samples}").samples
    rows = []
    for concurrency in (1, 4, 16):
        model = load_model(f"openai:{MODEL}", base_url=base_url, max_retries=0, concurrency=concurrency)
        reasoner = Reasoner(model, protocol="llamav-o1", strategy="greedy", max_new_tokens=4)
        count = min(samples, 4 * concurrency)
        started = time.perf_counter()
        predictions = reasoner.batch(bench[:count])
        wall = time.perf_counter() - started
        failed = [p.error for p in predictions if p.error]
        assert not failed, failed[:3]
        calls = sum(p.cost.model_calls for p in predictions)
        bound = concurrency / latency
        rows.append((label, concurrency, count, calls, latency, calls / wall, bound, calls / wall / bound))
    return rows


def _stub_forever(latency: float, ready) -> None:
    import threading

    from metrics_support import ScriptedChatServer

    server = ScriptedChatServer()

    def respond(body):
        time.sleep(latency)
        return "Step 1: a reply."

    server.script("unused")
    server.responder = respond
    ready.put(server.base_url)
    threading.Event().wait()


class StubServer:
    """A bare OpenAI-compatible HTTP server in its own process (a thread per request) that answers
    every chat request after `latency` seconds: the bound concurrency / latency is then exactly what
    a client can reach, and the server takes no CPU time from the client's process."""

    def __init__(self, latency: float) -> None:
        import multiprocessing

        ready = multiprocessing.Queue()
        self.process = multiprocessing.Process(target=_stub_forever, args=(latency, ready), daemon=True)
        self.process.start()
        self.base_url = ready.get(timeout=60)

    def close(self) -> None:
        self.process.terminate()
        self.process.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48, help="requests per concurrency level")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the stub server takes per request")
    parser.add_argument("--serve-latency", type=float, default=2.0,
                        help="seconds llamav serve adds per request (fault mode) on top of the model's time")
    parser.add_argument("--samples", type=int, default=64, help="samples for the backend rows")
    parser.add_argument("--streaming-only", action="store_true", help="only the token-streaming rows")
    args = parser.parse_args()
    print(f"# {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        print_streaming(streaming_rows(workdir))
        if args.streaming_only:
            return
        rows = server_rows(True, args.requests, workdir) + server_rows(False, args.requests, workdir)
        print("\n| server | concurrency | requests | requests/s | p50 s | p95 s | mean batch |")
        print("|---|---|---|---|---|---|---|")
        for mode, c, n, rps, p50, p95, batch in rows:
            print(f"| {mode} | {c} | {n} | {rps:.2f} | {p50:.3f} | {p95:.3f} | {batch:.1f} |")
        stub = StubServer(args.latency)
        try:
            rows = backend_rows(args.latency, args.samples, stub.base_url, "fixed-latency stub")
        finally:
            stub.close()
        slow = Server(["--model", MODEL, "--max-batch", "16", "--queue-size", "128"], workdir / "latency.log",
                      env={"LLAMAV_SERVE_FAULTS": f"latency={args.serve_latency}"})
        try:
            rows += backend_rows(args.serve_latency, args.samples, slow.base_url, "llamav serve + latency")
        finally:
            slow.close()
        print("\n| openai: backend against | concurrency | samples | requests | latency s | requests/s "
              "| bound c/latency | share |")
        print("|---|---|---|---|---|---|---|---|")
        for label, c, n, calls, lat, rps, bound, share in rows:
            print(f"| {label} | {c} | {n} | {calls} | {lat:.2f} | {rps:.2f} | {bound:.2f} | {share:.0%} |")


if __name__ == "__main__":
    main()
