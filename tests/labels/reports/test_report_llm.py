"""The LLM labeler against a real HTTP server on loopback answering canned replies."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hyperct.labels.reports.llm import LLMConfig, LLMLabeler
from hyperct.labels.reports.prompt import ReplyError, parse_reply, system_prompt
from hyperct.tasks import CONVENTIONAL

FINDINGS = [t.name for t in CONVENTIONAL]
VALID = {name: -1 for name in FINDINGS} | {"Emphysema": 1, "Pleural effusion": 0}


class _Handler(BaseHTTPRequestHandler):
    calls: list[str] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        report = body["messages"][1]["content"]
        with self.lock:
            self.calls.append(report)
            n_same = sum(c == report for c in self.calls)
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        if "BROKEN" in report:
            content = "Sure! Here are the labels: {Emphysema: yes"
        elif "FLAKY" in report and n_same == 1:
            content = "not json at all"
        elif "SERVER" in report and n_same == 1:
            self.send_response(503)
            self.end_headers()
            return
        elif "WRONGKEYS" in report:
            content = json.dumps({"Emphysema": 1})
        else:
            content = "```json\n" + json.dumps(VALID) + "\n```"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Handler.calls = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", _Handler.calls
    httpd.shutdown()
    httpd.server_close()


def _config(url, tmp_path, **kw):
    return LLMConfig(
        base_url=url,
        model="test-model",
        backoff_s=0.0,
        max_retries=2,
        cache_dir=tmp_path / "cache",
        timeout_s=10,
        **kw,
    )


def test_valid_invalid_retried_and_cached(server, tmp_path):
    url, calls = server
    labeler = LLMLabeler(_config(url, tmp_path, workers=3))
    texts = [
        "Emphysema. No effusion.",
        "FLAKY report",
        "BROKEN report",
        "SERVER report",
        "WRONGKEYS",
    ]
    outcomes = labeler.label_texts(texts)
    assert outcomes[0].labels == VALID
    assert outcomes[1].labels == VALID  # invalid JSON once, then valid
    assert outcomes[3].labels == VALID  # HTTP 503 once, then valid
    assert outcomes[2].labels is None and "not valid JSON" in outcomes[2].error
    assert outcomes[4].labels is None and "keys wrong" in outcomes[4].error
    assert sum("BROKEN" in c for c in calls) == 3  # first try + 2 retries, then recorded as failed
    n_calls = len(calls)
    again = LLMLabeler(_config(url, tmp_path)).label_texts(texts[:2])
    assert [o.labels for o in again] == [VALID, VALID]
    assert len(calls) == n_calls  # served from the cache


def test_failure_becomes_minus_one_in_the_batch(server, tmp_path):
    import pandas as pd

    from hyperct.labels.reports.batch import label_reports

    url, _ = server
    df = pd.DataFrame({"AccessionNo": ["ok", "bad"], "report_text": ["Emphysema.", "BROKEN"]})
    run = label_reports(df, method="llm", llm_config=_config(url, tmp_path))
    assert run.labels.set_index("AccessionNo").loc["ok", "Emphysema"] == 1
    assert (run.labels.set_index("AccessionNo").loc["bad"] == -1).all()
    assert len(run.failures) == 1 and "bad" in run.failures[0]


def test_prompt_uses_catalogue_definitions():
    prompt = system_prompt()
    for task in CONVENTIONAL:
        assert f"- {task.name}: {task.definition}" in prompt


@pytest.mark.parametrize(
    "reply",
    [
        "[]",
        json.dumps(VALID | {"Emphysema": 2}),
        json.dumps(VALID | {"Emphysema": True}),
        json.dumps(VALID | {"Extra": 1}),
        "{",
    ],
)
def test_parse_reply_rejects(reply):
    with pytest.raises(ReplyError):
        parse_reply(reply)


def test_config_validation():
    with pytest.raises(ValueError, match="model"):
        LLMConfig(model="")
    with pytest.raises(ValueError, match="base_url"):
        LLMConfig(base_url="localhost:8000", model="m")
