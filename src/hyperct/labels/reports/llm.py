"""LLM labeler: any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, hosted).

Each report is one chat request (temperature 0) built by :mod:`hyperct.labels.reports.prompt`.
Transport errors, 429/5xx answers and replies that fail validation are retried with exponential
backoff; a report that still fails is recorded as failed (all -1), never guessed. Requests run in
a thread pool; validated replies are cached on disk.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from hyperct.labels.reports.llm_cache import LabelCache, cache_key
from hyperct.labels.reports.outcome import ReportOutcome
from hyperct.labels.reports.prompt import ReplyError, parse_reply, system_prompt, user_prompt

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMConfig:
    """Endpoint and behaviour of the LLM labeler.

    base_url: the API root ending in /v1 (the client posts to ``{base_url}/chat/completions``).
    api_key_env: environment variable with the key (a local server needs none).
    max_retries: further attempts after the first, for transport errors and invalid replies.
    """

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"
    workers: int = 4
    max_retries: int = 3
    backoff_s: float = 0.5
    timeout_s: float = 120.0
    temperature: float = 0.0
    max_tokens: int = 400
    cache_dir: Path | None = Path(".hyperct_llm_cache")

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("model is required: the name the endpoint serves (e.g. --llm-model)")
        if self.workers < 1 or self.max_retries < 0 or self.backoff_s < 0 or self.timeout_s <= 0:
            raise ValueError(
                "workers >= 1, max_retries >= 0, backoff_s >= 0 and timeout_s > 0 required"
            )


class LLMLabeler:
    """Label reports through an OpenAI-compatible chat completions endpoint."""

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.system = system_prompt()
        self.cache = LabelCache(config.cache_dir) if config.cache_dir else None
        key = os.environ.get(config.api_key_env, "")
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def label_texts(self, texts: list[str]) -> list[ReportOutcome]:
        """Label many reports concurrently; the result is in input order."""
        with httpx.Client(timeout=self.config.timeout_s, headers=self.headers) as client:
            with ThreadPoolExecutor(max_workers=self.config.workers) as pool:
                return list(pool.map(lambda t: self.label_one(client, t), texts))

    def label_one(self, client: httpx.Client, text: str) -> ReportOutcome:
        """Label one report: cache, else ask with retries; failures are recorded, not guessed."""
        key = cache_key(text, self.system, self.config.model, self.config.temperature)
        cached = self.cache.get(key) if self.cache else None
        if cached is not None:
            return self._outcome(cached, "cache")
        error = ""
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                labels = parse_reply(self._ask(client, text))
            except (
                httpx.HTTPError,
                ReplyError,
                KeyError,
                IndexError,
                TypeError,
                ValueError,
            ) as exc:
                error = f"attempt {attempt + 1}: {type(exc).__name__}: {exc}"
                logger.debug("LLM labelling failed, %s", error)
                continue
            if self.cache:
                self.cache.put(key, labels)
            return self._outcome(labels, "llm")
        return ReportOutcome.failed(
            f"LLM gave no valid reply after {self.config.max_retries + 1} attempts ({error})"
        )

    def _ask(self, client: httpx.Client, text: str) -> str:
        response = client.post(
            f"{self.config.base_url.rstrip('/')}/chat/completions",
            json={
                "model": self.config.model,
                "temperature": self.config.temperature,
                "max_tokens": self.config.max_tokens,
                "messages": [
                    {"role": "system", "content": self.system},
                    {"role": "user", "content": user_prompt(text)},
                ],
            },
        )
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]

    def _outcome(self, labels: dict[str, int], source: str) -> ReportOutcome:
        evidence = [
            {
                "task": task,
                "label": label,
                "status": "",
                "sentence": "",
                "phrase": "",
                "cue": f"{source}:{self.config.model}",
                "method": "llm",
            }
            for task, label in labels.items()
            if label != -1
        ]
        return ReportOutcome(labels=labels, evidence=evidence)
