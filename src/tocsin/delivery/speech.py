"""Speech for the voice channel: text to 8 kHz G.711, rendered once per send request and language.

The default voice is Debian's ``espeak-ng`` (voices nl, fr-be, de, en-gb), resampled by ``sox`` without
dither (``-D``) to 8 kHz signed 16-bit mono, then encoded by ``tocsin.protocols.rtp`` (μ-law and A-law
both, whichever the callee's answer picks). A better voice plugs in through ``TOCSIN_TTS_COMMAND``: a
command line with ``{voice}`` / ``{language}`` placeholders that reads the text on its standard input and
writes a WAV file (any rate) on its standard output.

``SpeechStore`` is what the workers use: a prompt is looked up in this worker's memory, then in
``delivery_speech`` (shared by every worker), and only then rendered — by one worker, the others find it
(``INSERT … ON CONFLICT DO NOTHING``, then read back what won). Never per call.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any

import psycopg

from tocsin.protocols import rtp

VOICES = {"nl": "nl", "fr": "fr-be", "de": "de", "en": "en-gb"}
DEFAULT_COMMAND = "espeak-ng -v {voice} -s 150 --stdout"
# Said after the message: the recipient acknowledges by pressing 1 (RFC 4733 or SIP INFO).
CONFIRM = {
    "nl": "Druk op 1 om te bevestigen dat u dit bericht gehoord hebt.",
    "fr": "Appuyez sur 1 pour confirmer que vous avez entendu ce message.",
    "de": "Drücken Sie die 1, um zu bestätigen, dass Sie diese Nachricht gehört haben.",
    "en": "Press 1 to confirm that you have heard this message.",
}
THANKS = {
    "nl": "Dank u. Uw bevestiging is ontvangen.",
    "fr": "Merci. Votre confirmation a été reçue.",
    "de": "Danke. Ihre Bestätigung ist angekommen.",
    "en": "Thank you. Your confirmation has been received.",
}
RENDER_TIMEOUT_S = 60.0
renders = 0  # how many times this process ran the speech command (the tests count them)


class SpeechError(RuntimeError):
    pass


@dataclass(frozen=True)
class Prompt:
    ulaw: bytes
    alaw: bytes

    @property
    def seconds(self) -> float:
        return len(self.ulaw) / rtp.RATE

    def audio(self, payload_type: int) -> bytes:
        return self.ulaw if payload_type == rtp.PCMU else self.alaw


def _command(language: str) -> list[str]:
    template = os.environ.get("TOCSIN_TTS_COMMAND") or DEFAULT_COMMAND
    voice = VOICES.get(language, "en-gb")
    return [part.format(voice=voice, language=language) for part in shlex.split(template)]


def render(text: str, language: str) -> Prompt:
    """Speak ``text``: the speech command's WAV through sox to 8 kHz 16-bit mono, then G.711."""
    global renders
    renders += 1
    resample = ["sox", "-D", "-t", "wav", "-", "-r", "8000", "-c", "1", "-e", "signed", "-b", "16",
                "-L", "-t", "raw", "-"]  # fmt: skip
    try:
        wav = subprocess.run(_command(language), input=text.encode(), capture_output=True, check=True,
                             timeout=RENDER_TIMEOUT_S).stdout  # fmt: skip
        pcm = subprocess.run(resample, input=wav, capture_output=True, check=True, timeout=RENDER_TIMEOUT_S).stdout
    except FileNotFoundError as exc:
        raise SpeechError(f"{exc.filename} is not installed (Debian: apt-get install espeak-ng sox)") from exc
    except subprocess.CalledProcessError as exc:
        raise SpeechError(f"{exc.cmd[0]} failed: {exc.stderr.decode(errors='replace')[-200:]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise SpeechError(f"{exc.cmd[0]} took longer than {RENDER_TIMEOUT_S:.0f} s") from exc
    if not pcm:
        raise SpeechError("the speech command produced no audio")
    return Prompt(rtp.encode(pcm, "ulaw"), rtp.encode(pcm, "alaw"))


def script(text: str, language: str, *, confirm: bool = True) -> str:
    """What is said: the message, then (unless ``confirm`` is off: a one-time code) how to acknowledge it."""
    return f"{text.strip()}\n{CONFIRM.get(language, CONFIRM['en'])}" if confirm else text.strip()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class SpeechStore:
    """Prompts per (send request, language), shared by the workers through PostgreSQL."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.memory: dict[tuple[int, str], Prompt] = {}
        self.thank_you: dict[str, Prompt] = {}
        self.pending: dict[tuple[int, str], asyncio.Future[Prompt]] = {}
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return self.conn

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    async def prompt(self, request_id: int, language: str, text: str, *, confirm: bool = True) -> Prompt:
        key = (request_id, language)
        found = self.memory.get(key)
        if found is not None:
            return found
        waiting = self.pending.get(key)
        if waiting is not None:  # another call of this worker is already fetching or rendering it
            return await asyncio.shield(waiting)
        future: asyncio.Future[Prompt] = asyncio.get_running_loop().create_future()
        self.pending[key] = future
        try:
            prompt = await self._load_or_render(request_id, language, script(text, language, confirm=confirm))
            if len(self.memory) >= 256:  # a worker keeps the latest messages only
                del self.memory[next(iter(self.memory))]
            self.memory[key] = prompt
            future.set_result(prompt)
            return prompt
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the callers waiting on it get it raised
            raise
        finally:
            del self.pending[key]

    async def thanks(self, language: str) -> Prompt:
        """The short thank-you after a 1, rendered once per worker and language."""
        if language not in self.thank_you:
            text = THANKS.get(language, THANKS["en"])
            self.thank_you[language] = await asyncio.to_thread(render, text, language)
        return self.thank_you[language]

    async def _load_or_render(self, request_id: int, language: str, text: str) -> Prompt:
        select = "SELECT ulaw, alaw FROM delivery_speech WHERE request_id = %s AND language = %s AND text_sha256 = %s"
        params = [request_id, language, digest(text)]
        async with self.lock:  # one statement at a time on this connection
            conn = await self._connection()
            row = await (await conn.execute(select, params)).fetchone()
        if row is not None:
            return Prompt(bytes(row[0]), bytes(row[1]))
        prompt = await asyncio.to_thread(render, text, language)
        async with self.lock:
            conn = await self._connection()
            await conn.execute(
                "INSERT INTO delivery_speech (request_id, language, text_sha256, ulaw, alaw, seconds, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT DO NOTHING",
                [*params, prompt.ulaw, prompt.alaw, prompt.seconds],
            )
            row = await (await conn.execute(select, params)).fetchone()
        return Prompt(bytes(row[0]), bytes(row[1])) if row is not None else prompt
