"""A fake OpenAI-compatible server over real HTTP on 127.0.0.1, with fault injection, and tone-speech audio.

The SDK 3.x is built on httpx2, so respx / pytest-httpx cannot intercept it: the client is pointed here via
base_url instead. "Speech" is a sequence of tone bursts, one frequency per vocabulary word; the server
decodes each upload and hears exactly the words in it, so chunk seams, overlaps and timestamps are testable.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import re
import socket
import struct
import threading
import wave
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
VOCAB = (  # noqa: SIM905 - one word per tone, easier to read as a sentence
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa "
    "quebec romeo sierra tango uniform victor whiskey xray yankee zulu zero one two three four five six "
    "seven eight nine amber cobalt indigo violet"
).split()
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
DURATION_BILLED = {"gpt-transcribe", "whisper-1"}
FORMATS = {
    "gpt-transcribe": {"json", "text"},
    "gpt-4o-transcribe": {"json"},
    "gpt-4o-mini-transcribe": {"json"},
    "gpt-4o-transcribe-diarize": {"json", "text", "diarized_json"},
    "whisper-1": {"json", "text", "srt", "vtt", "verbose_json"},
}
DURATION_LIMITS = {"gpt-4o-transcribe": 1400.0, "gpt-4o-mini-transcribe": 1400.0, "gpt-4o-transcribe-diarize": 1400.0}


def tone_freq(index: int) -> float:
    return 400.0 + 150.0 * index


# ---- tone speech ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpokenWord:
    start: float
    end: float
    text: str


def write_tone_speech(path: Path, seconds: float, *, seed: int = 0) -> list[SpokenWord]:
    """Write a 16 kHz mono WAV of "phrases" of tone words with pauses between; return what is said."""
    rng = np.random.default_rng(seed)
    words: list[SpokenWord] = []
    t, previous = 0.0, -1
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)

        def emit(samples: np.ndarray) -> None:
            noisy = samples + rng.normal(0.0, 0.002, len(samples))
            out.writeframes((np.clip(noisy, -1, 1) * 32767).astype("<i2").tobytes())

        while t < seconds - 2.0:
            for _ in range(int(rng.integers(4, 12))):
                if t > seconds - 1.5:
                    break
                k = int(rng.integers(0, len(VOCAB)))
                while k == previous:  # no word twice in a row: a seam cannot hide a real repeat
                    k = int(rng.integers(0, len(VOCAB)))
                previous = k
                n, gap = int(rng.uniform(0.22, 0.4) * SAMPLE_RATE), int(rng.uniform(0.1, 0.18) * SAMPLE_RATE)
                x = np.arange(n) / SAMPLE_RATE
                envelope = np.minimum(1.0, np.minimum(x, x[-1] - x) / 0.01)
                emit(np.concatenate([0.3 * envelope * np.sin(2 * np.pi * tone_freq(k) * x), np.zeros(gap)]))
                words.append(SpokenWord(t, t + n / SAMPLE_RATE, VOCAB[k]))
                t += (n + gap) / SAMPLE_RATE
            pause = int(min(rng.uniform(0.5, 1.2), max(0.0, seconds - t)) * SAMPLE_RATE)
            emit(np.zeros(pause))
            t += pause / SAMPLE_RATE
        tail = max(0, int((seconds - t) * SAMPLE_RATE))
        emit(np.zeros(tail))
    return words


def audio_duration(data: bytes) -> float:
    import av

    with av.open(io.BytesIO(data)) as container:
        return float(container.duration or 0) / 1_000_000


def decode_mono(data: bytes) -> np.ndarray:
    import av

    parts: list[np.ndarray] = []
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        parts.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def recognize(samples: np.ndarray) -> list[SpokenWord]:
    """Hear the tone words: bursts of energy, each named by its peak frequency."""
    hop = SAMPLE_RATE // 100
    frames = len(samples) // hop
    rms = np.sqrt((samples[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1))
    loud = rms > 0.05
    words: list[SpokenWord] = []
    i = 0
    while i < frames:
        if not loud[i]:
            i += 1
            continue
        j = i
        while j < frames and (loud[j] or loud[j : j + 4].any()):
            j += 1
        if j - i >= 8:
            burst = samples[i * hop : j * hop]
            spectrum = np.abs(np.fft.rfft(burst * np.hanning(len(burst))))
            k = round((np.argmax(spectrum) * SAMPLE_RATE / len(burst) - 400.0) / 150.0)
            if 0 <= k < len(VOCAB):
                words.append(SpokenWord(i * hop / SAMPLE_RATE, j * hop / SAMPLE_RATE, VOCAB[k]))
        i = j
    return words


def phrases(words: list[SpokenWord], pause_s: float = 0.4) -> list[list[SpokenWord]]:
    out: list[list[SpokenWord]] = []
    for w in words:
        if out and w.start - out[-1][-1].end < pause_s:
            out[-1].append(w)
        else:
            out.append([w])
    return out


def phrase_text(group: list[SpokenWord]) -> str:
    text = " ".join(w.text for w in group)
    return text[:1].upper() + text[1:] + "."


# ---- faults ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    kind: str  # "status" | "slow" | "reset" | "malformed" | "none"
    status: int = 500
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    message: str | None = None  # the error message in the body (default: a realistic one)

    @classmethod
    def rate_limited(cls, retry_after_ms: int = 20) -> Fault:
        return cls("status", 429, "rate_limit_exceeded", {"retry-after-ms": str(retry_after_ms)})

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("status", status, "server_error")

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls("status", 401, "invalid_api_key")

    @classmethod
    def insufficient_quota(cls) -> Fault:
        return cls("status", 429, "insufficient_quota")

    @classmethod
    def slow(cls, delay_s: float) -> Fault:
        return cls("slow", 200, delay_s=delay_s)

    @classmethod
    def reset(cls) -> Fault:
        return cls("reset")

    @classmethod
    def malformed(cls) -> Fault:
        return cls("malformed", 200)


@dataclass(frozen=True)
class SeenRequest:
    path: str
    model: str | None
    status: int
    fault: str | None = None
    upload_bytes: int = 0
    audio_seconds: float = 0.0
    fields: dict[str, Any] = field(default_factory=dict)
    authorization: str | None = None


# ---- the server -------------------------------------------------------------------------------------------


class FakeOpenAI:
    """`with FakeOpenAI() as fake:` serves on fake.base_url; inject with fake.fail_next(Fault...)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        hear_words: bool = True,
        latency_per_audio_s: float = 0.0,
        omit_usage: bool = False,
        duration_limits: dict[str, float] | None = None,
    ) -> None:
        self.api_key = api_key
        self.hear_words = hear_words
        self.latency_per_audio_s = latency_per_audio_s
        self.omit_usage = omit_usage
        self.duration_limits = DURATION_LIMITS | (duration_limits or {})
        self.requests: list[SeenRequest] = []
        self.usage: list[tuple[str, dict[str, Any]]] = []  # (model, usage) of every successful answer
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, *faults: Fault) -> None:
        """Answer the next requests (any endpoint) with these faults, in order."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def paths(self, path: str = "/v1/audio/transcriptions") -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _seen(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def transcribe(self, fields: dict[str, Any], audio: bytes) -> tuple[int, Any, str]:
        """(status, body, content type) for one transcription request that got past the faults."""
        model = str(fields.get("model"))
        fmt = str(fields.get("response_format", "json"))
        if fmt not in FORMATS.get(model, {"json", "text", "verbose_json"}):
            msg = f"response_format '{fmt}' is not compatible with model '{model}'."
            return 400, _error(msg, "unsupported_value", "invalid_request_error"), "json"
        duration = audio_duration(audio)
        limit = self.duration_limits.get(model)
        if limit is not None and duration > limit:
            msg = (
                f"audio duration {duration:.1f} seconds is longer than {limit:.0f} seconds, the maximum for this model."
            )
            return 400, _error(msg, "audio_too_long", "invalid_request_error"), "json"
        words = recognize(decode_mono(audio)) if self.hear_words else _filler(duration)
        if self.latency_per_audio_s:
            self._closing.wait(duration * self.latency_per_audio_s)
        usage = _usage(model, duration, words, str(fields.get("prompt", "")))
        body = _body(model, fmt, fields, duration, words, usage)
        if self.omit_usage and isinstance(body, dict):
            del body["usage"]  # like a compatible server that reports none
        else:
            with self._lock:
                self.usage.append((model, usage))
        return 200, body, "json" if fmt != "text" else "text"


def _filler(duration: float) -> list[SpokenWord]:
    """Stand-in words (2.5 a second) when the server is asked not to listen (benchmarks)."""
    return [SpokenWord(t * 0.4, t * 0.4 + 0.3, VOCAB[t % len(VOCAB)]) for t in range(int(duration / 0.4))]


def _error(message: str, code: str | None, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _usage(model: str, duration: float, words: list[SpokenWord], prompt: str) -> dict[str, Any]:
    if model in DURATION_BILLED or model not in FORMATS:
        return {"type": "duration", "seconds": math.ceil(duration)}
    audio, text = math.ceil(duration * 10), len(prompt.split()) * 2
    out = math.ceil(len(words) * 1.3) + 1
    return {
        "type": "tokens",
        "input_tokens": audio + text,
        "output_tokens": out,
        "total_tokens": audio + text + out,
        "input_token_details": {"audio_tokens": audio, "text_tokens": text},
    }


def _body(
    model: str, fmt: str, fields: dict[str, Any], duration: float, words: list[SpokenWord], usage: dict[str, Any]
) -> Any:
    groups = phrases(words)
    text = " ".join(phrase_text(g) for g in groups)
    if fmt == "text":
        return text
    if fmt == "verbose_json":
        segments = [
            {
                "id": i,
                "seek": 0,
                "start": g[0].start,
                "end": g[-1].end,
                "text": " " + phrase_text(g),
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.1,
                "compression_ratio": 1.2,
                "no_speech_prob": 0.01,
            }
            for i, g in enumerate(groups)
        ]
        return {
            "task": "transcribe",
            "language": "english",
            "duration": duration,
            "text": text,
            "segments": segments,
            "words": [{"word": w.text, "start": w.start, "end": w.end} for w in words],
            "usage": usage,
        }
    if fmt == "diarized_json":
        segments = [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{i}",
                "start": g[0].start,
                "end": g[-1].end,
                "text": phrase_text(g),
                "speaker": "AB"[i % 2],
            }
            for i, g in enumerate(groups)
        ]
        return {"task": "transcribe", "duration": duration, "text": text, "segments": segments, "usage": usage}
    body: dict[str, Any] = {"text": text, "usage": usage}
    if "logprobs" in fields.get("include[]", []):
        body["logprobs"] = [{"token": w.text, "logprob": -0.05, "bytes": list(w.text.encode())} for w in words]
    if model == "gpt-transcribe":
        body["languages"] = [{"code": "en"}]
    return body


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes, str | None]:
    """Form fields (repeated names become lists), the file bytes and the file name."""
    boundary = content_type.split("boundary=", 1)[1].strip().strip('"').encode()
    fields: dict[str, Any] = {}
    audio, filename = b"", None
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, payload = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        payload = payload.removesuffix(b"\r\n")
        disposition = next(
            line for line in head.decode().split("\r\n") if line.lower().startswith("content-disposition")
        )
        params = dict(re.findall(r'(\w+)="([^"]*)"', disposition))
        name = params.get("name", "")
        if "filename" in params:
            audio, filename = payload, params["filename"]
        elif name.endswith("[]"):
            fields.setdefault(name, []).append(payload.decode())
        else:
            fields[name] = payload.decode()
    return fields, audio, filename


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            return

        def _send(self, status: int, body: Any, kind: str = "json", headers: dict[str, str] | None = None) -> None:
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json" if kind == "json" else "text/plain")
            self.send_header("content-length", str(len(raw)))
            self.send_header("x-request-id", f"req_fake_{len(fake.requests) + 1}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                self.wfile.write(raw)

        def _fault(self, fault: Fault, seen: SeenRequest) -> bool:
            """Apply a fault; True when the request is fully answered by it."""
            if fault.kind == "none":  # a placeholder: lets a later request in the queue fail
                return False
            fake._seen(seen)
            if fault.kind == "slow":  # answer only after the delay (the client has usually given up)
                fake._closing.wait(fault.delay_s)
                self.close_connection = True
                return True
            if fault.kind == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
            elif fault.kind == "malformed":
                self._send(200, '{"text": "half an ans', "json")
            else:
                message = {401: "Incorrect API key provided: sk-test***cret.", 429: "Rate limit reached."}.get(
                    fault.status, "The server had an error while processing your request."
                )
                if fault.code == "insufficient_quota":
                    message = "You exceeded your current quota, please check your plan and billing details."
                message = fault.message or message
                self._send(fault.status, _error(message, fault.code, "fake_error"), headers=fault.headers)
            return True

        def _authorized(self) -> bool:
            return fake.api_key is None or self.headers.get("authorization") == f"Bearer {fake.api_key}"

        def do_GET(self) -> None:  # noqa: N802
            auth = self.headers.get("authorization")
            if self.path == "/fake/stats":  # for benchmarks that run the server in another process
                seen = fake.paths()
                return self._send(
                    200,
                    {
                        "requests": len(seen),
                        "upload_bytes": sum(r.upload_bytes for r in seen),
                        "audio_seconds": sum(r.audio_seconds for r in seen),
                    },
                )
            if self.path.rstrip("/") != "/v1/models":
                return self._send(404, _error("Not found", None, "invalid_request_error"))
            fault = fake._next_fault()
            seen = SeenRequest(self.path, None, 200, fault.kind if fault else None, authorization=auth)
            if fault and self._fault(fault, seen):
                return
            if not self._authorized():
                fake._seen(SeenRequest(self.path, None, 401, authorization=auth))
                return self._send(
                    401, _error("Incorrect API key provided.", "invalid_api_key", "invalid_request_error")
                )
            fake._seen(seen)
            models = [{"id": m, "object": "model", "created": 0, "owned_by": "openai"} for m in FORMATS]
            self._send(200, {"object": "list", "data": models})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)  # read it all first, as a real server would
            auth = self.headers.get("authorization")
            path = self.path
            if length > MAX_UPLOAD_BYTES:
                fake._seen(SeenRequest(path, None, 413, upload_bytes=length, authorization=auth))
                return self._send(
                    413,
                    _error(f"Maximum content size limit ({MAX_UPLOAD_BYTES}) exceeded.", None, "invalid_request_error"),
                )
            fault = fake._next_fault()
            if path == "/v1/chat/completions":
                request = json.loads(body)
                seen = SeenRequest(path, request.get("model"), 200, fault.kind if fault else None, authorization=auth)
                if fault and self._fault(fault, seen):
                    return
                if not self._authorized():
                    fake._seen(SeenRequest(path, request.get("model"), 401, authorization=auth))
                    return self._send(401, _error("Incorrect API key provided.", "invalid_api_key", "auth"))
                fake._seen(seen)
                return self._send(200, _chat(fake, request))
            if path != "/v1/audio/transcriptions":
                return self._send(404, _error("Not found", None, "invalid_request_error"))
            fields, audio, _name = parse_multipart(self.headers.get("content-type", ""), body)
            seen = SeenRequest(
                path, fields.get("model"), 200, fault.kind if fault else None, length, fields=fields, authorization=auth
            )
            if fault and self._fault(fault, seen):
                return
            if not self._authorized():
                fake._seen(SeenRequest(path, fields.get("model"), 401, upload_bytes=length, authorization=auth))
                return self._send(401, _error("Incorrect API key provided.", "invalid_api_key", "auth"))
            status, answer, kind = fake.transcribe(fields, audio)
            duration = audio_duration(audio) if audio else 0.0
            fake._seen(SeenRequest(path, fields.get("model"), status, seen.fault, length, duration, fields, auth))
            if status == 200 and fields.get("stream") == "true":
                return self._stream(answer)
            self._send(status, answer, kind)

        def _stream(self, answer: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("x-request-id", f"req_fake_{len(fake.requests)}")
            self.send_header("connection", "close")
            self.end_headers()
            events = [{"type": "transcript.text.delta", "delta": w + " "} for w in answer["text"].split()]
            events.append({"type": "transcript.text.done", "text": answer["text"], "usage": answer["usage"]})
            for event in events:
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.close_connection = True

    return Handler


def _chat(fake: FakeOpenAI, request: dict[str, Any]) -> dict[str, Any]:
    content = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
    user = str(request["messages"][-1]["content"])
    summary = f"Summary ({len(user.split())} words): " + " ".join(user.split()[:12])
    usage = {"prompt_tokens": math.ceil(len(content) / 4), "completion_tokens": len(summary.split()) * 2}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    with fake._lock:
        fake.usage.append((str(request.get("model")), usage))
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": request.get("model"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": summary}}],
        "usage": usage,
    }


def main() -> None:
    """Serve until killed: `python -m tests.fake_openai --latency 0.01` prints the base URL on stdout."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0, help="seconds of delay per second of audio")
    parser.add_argument("--no-hear", action="store_true", help="skip decoding; answer filler words")
    args = parser.parse_args()
    with FakeOpenAI(latency_per_audio_s=args.latency, hear_words=not args.no_hear) as fake:
        print(fake.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
