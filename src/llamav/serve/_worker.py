"""The one thread that owns the model, fed by a bounded queue.

Models hold state (a KV cache, a grammar compiler) and a GPU runs one batch at a time, so one
worker runs every model call. Whatever is waiting when it becomes free is taken together (up to
`Limits.max_batch`) and batched where settings agree: plain chats through the backend's
`generate_batch`, reasoning requests through `Reasoner.batch` (one batched call per turn). A full
queue is answered 429 at once instead of letting latency grow without bound.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from typing import Any

from llamav.models import Completion, GenerateParams, Message, VisionLanguageModel
from llamav.reasoning import Reasoner
from llamav.serve._protocol import APIError, ChatJob, Choice, Limits, ReasonJob, Result, chat_choice

log = logging.getLogger("llamav.serve")

_STOP = object()


class Worker:
    def __init__(self, model: VisionLanguageModel, limits: Limits) -> None:
        self.model = model
        self.limits = limits
        self._queue: queue.Queue = queue.Queue(maxsize=limits.queue_size)
        self._thread = threading.Thread(target=self._loop, name="llamav-model", daemon=True)
        # Batches and requests run so far (reported by /health; the throughput benchmark reads them).
        self.batches_run = 0
        self.requests_run = 0

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        try:
            self._queue.put(_STOP, timeout=5)
        except queue.Full:
            return  # a daemon thread: it ends with the process
        self._thread.join(timeout=30)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def submit(self, job: ChatJob | ReasonJob) -> Future:
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise APIError(
                429,
                f"the server is busy: {self.limits.queue_size} requests are already waiting; retry after "
                f"{self.limits.retry_after} s",
                type="rate_limit_error",
                code="queue_full",
                headers={"Retry-After": str(self.limits.retry_after)},
            ) from None
        return job.future

    # -- the thread ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs, stop = [first], False
            while len(jobs) < self.limits.max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                jobs.append(job)
            # A client that went away cancelled its future: its work is skipped, not computed.
            jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
            if jobs:
                self.batches_run += 1
                self.requests_run += len(jobs)
                self._run(jobs)
            if stop:
                return

    def _run(self, jobs: list[ChatJob | ReasonJob]) -> None:
        chats: dict[str, list[ChatJob]] = defaultdict(list)
        reasoning: list[ReasonJob] = []
        streamed: list[ChatJob] = []
        for job in jobs:
            if isinstance(job, ChatJob) and job.on_text is not None:
                streamed.append(job)
            elif isinstance(job, ChatJob):
                chats[job.batch_key() + f":image={job.image is not None}"].append(job)
            else:
                reasoning.append(job)
        for job in streamed:
            self._run_streamed(job)
        for group in chats.values():
            self._run_chats(group)
        if reasoning:
            self._run_reasoning(reasoning)

    def _run_chats(self, group: list[ChatJob]) -> None:
        if len(group) > 1 and self.model.capabilities.batch:
            try:
                completions = self.model.generate_batch([(j.messages, j.image) for j in group], group[0].params)
            except Exception as exc:  # noqa: BLE001  (redone one by one so the error lands on its request)
                log.warning("a batch of %d chats failed (%s: %s); running them one by one",
                            len(group), type(exc).__name__, exc)
            else:
                for job, completion in zip(group, completions):
                    _settle(job.future, result=self._chat_result(job, completion))
                return
        for job in group:
            try:
                completion = self.model.generate(job.messages, job.image, job.params)
                _settle(job.future, result=self._chat_result(job, completion))
            except Exception as exc:  # noqa: BLE001  (answered to the client as an error)
                _settle(job.future, error=exc)

    def _run_streamed(self, job: ChatJob) -> None:
        try:
            completion = self.model.generate_stream(job.messages, job.image, job.params, job.on_text)  # type: ignore[attr-defined]
            _settle(job.future, result=self._chat_result(job, completion))
        except Exception as exc:  # noqa: BLE001  (answered to the client as an error)
            _settle(job.future, error=exc)

    def _chat_result(self, job: ChatJob, completion: Completion) -> Result:
        texts, reasons = completion.texts, completion.finish_reasons
        logprobs = completion.logprobs or [None] * len(texts)
        if len(texts) < job.n:  # greedy: one text stands for all n
            texts, reasons, logprobs = texts * job.n, reasons * job.n, logprobs * job.n
        choices = [chat_choice(text, reason, job.params.stop, job.tools, tokens)
                   for text, reason, tokens in zip(texts[: job.n], reasons[: job.n], logprobs[: job.n])]
        return Result(choices, completion.prompt_tokens, completion.generated_tokens)

    def _run_reasoning(self, jobs: list[ReasonJob]) -> None:
        # Choice i of a job runs with seed + i; choices (of any jobs) that share every setting
        # are decoded together by `Reasoner.batch`.
        groups: dict[str, list[tuple[ReasonJob, int]]] = defaultdict(list)
        for job in jobs:
            for i in range(job.n):
                settings = {**job.settings, "seed": job.settings["seed"] + i}
                groups[repr(sorted(settings.items()))].append((job, i))
        predictions: dict[int, dict[int, tuple[Any, str]]] = defaultdict(dict)
        failed: dict[int, Exception] = {}
        for units in groups.values():
            job0, i0 = units[0]
            watched = _CutWatch(self.model)
            try:
                reasoner = Reasoner(watched, **{**job0.settings, "seed": job0.settings["seed"] + i0})
                made = reasoner.batch([job.sample for job, _ in units])
            except Exception as exc:  # noqa: BLE001
                for job, _ in units:
                    failed[id(job)] = exc
                continue
            for (job, i), prediction in zip(units, made):
                predictions[id(job)][i] = (prediction, "length" if watched.was_cut(job.sample) else "stop")
        for job in jobs:
            if id(job) in failed:
                _settle(job.future, error=failed[id(job)])
                continue
            made = [predictions[id(job)][i] for i in range(job.n)]
            errors = [p.error for p, _ in made if p.error]
            if errors:
                _settle(job.future, error=RuntimeError(errors[0]))
                continue
            _settle(job.future, result=_reasoning_result(made))


class _CutWatch:
    """The served model, noting the calls whose (best) continuation was cut by its token cap, so
    that a reasoning choice says `length` when one of its turns was cut. A call is the sample's
    when it carries the sample's picture and its question: the Reasoner passes no sample id down."""

    def __init__(self, model: VisionLanguageModel) -> None:
        self.model = model
        self.name = model.name
        self.capabilities = model.capabilities
        self._cut: list[tuple[str, str]] = []  # (picture digest, first message) of each cut call

    def endpoint(self) -> dict[str, Any]:
        return self.model.endpoint()

    def generate(self, messages: list[Message], image: Any | None, params: GenerateParams) -> Completion:
        completion = self.model.generate(messages, image, params)
        self._note(messages, image, completion)
        return completion

    def generate_batch(self, requests: list[tuple[list[Message], Any]], params: GenerateParams) -> list[Completion]:
        completions = self.model.generate_batch(requests, params)  # type: ignore[attr-defined]
        for (messages, image), completion in zip(requests, completions):
            self._note(messages, image, completion)
        return completions

    def _note(self, messages: list[Message], image: Any | None, completion: Completion) -> None:
        if completion.finish_reasons[:1] == ["length"]:
            self._cut.append((_digest(image), messages[0].text if messages else ""))

    def was_cut(self, sample: Any) -> bool:
        if not self._cut:
            return False
        digest, question = _digest(sample.pil_image()), sample.question.strip()
        return any(d == digest and question in first for d, first in self._cut)


def _digest(image: Any | None) -> str:
    if image is None:
        return ""
    return hashlib.sha1(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()


def _reasoning_result(made: list[tuple[Any, str]]) -> Result:
    choices = [Choice(p.final_answer, reason, reasoning=reasoning_extra(p)) for p, reason in made]
    predictions = [p for p, _ in made]
    return Result(
        choices,
        prompt_tokens=sum(p.cost.prompt_tokens for p in predictions),
        completion_tokens=sum(p.cost.generated_tokens for p in predictions),
    )


def reasoning_extra(prediction: Any) -> dict[str, Any]:
    """What the response's `llamav` field holds for one reasoning choice."""
    return {
        "protocol": prediction.protocol,
        "strategy": prediction.strategy,
        "seed": prediction.seed,
        "stages": prediction.stages,
        "steps": prediction.steps,
        "flags": prediction.flags,
        "turns": [turn.model_dump() for turn in prediction.turns],
        "cost": prediction.cost.model_dump(),
    }


def _settle(future: Future, *, result: Any = None, error: Exception | None = None) -> None:
    if future.done():  # cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
