"""Audio as the carrier wants it: 8 kHz mono 16-bit WAV (Twilio transcodes to 8 kHz μ-law)."""

from __future__ import annotations

import io
import subprocess
import warnings
import wave

TARGET_RATE_HZ = 8000
SAMPLE_WIDTH_BYTES = 2
DECODE_TIMEOUT_S = 30.0

with warnings.catch_warnings():
    # pydub imports the deprecated audioop (audioop-lts on Python 3.13+) and warns when no
    # ffmpeg is on PATH; we hand it the ffmpeg that imageio-ffmpeg ships, below.
    warnings.simplefilter("ignore")
    from pydub import AudioSegment


def pcm_to_wav(pcm: bytes, *, rate_hz: int, channels: int = 1) -> bytes:
    """16-bit PCM at any rate → 8 kHz mono WAV."""
    segment = AudioSegment(
        data=pcm, sample_width=SAMPLE_WIDTH_BYTES, frame_rate=rate_hz, channels=channels
    )
    segment = segment.set_channels(1).set_frame_rate(TARGET_RATE_HZ)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH_BYTES)
        out.setframerate(TARGET_RATE_HZ)
        out.writeframes(segment.raw_data)
    return buffer.getvalue()


def mp3_to_wav(mp3: bytes) -> bytes:
    """Decodes with the ffmpeg binary imageio-ffmpeg ships (pydub would need ffprobe).

    ffmpeg writing WAV to a pipe can't go back to fill in the header's sizes, so it is asked
    for raw samples and the header is written here.
    """
    import imageio_ffmpeg

    result = subprocess.run(  # noqa: S603 - a fixed binary from a package, arguments are ours
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-i",
            "pipe:0",
            "-ar",
            str(TARGET_RATE_HZ),
            "-ac",
            "1",
            "-f",
            "s16le",
            "-acodec",
            "pcm_s16le",
            "pipe:1",
        ],
        input=mp3,
        capture_output=True,
        timeout=DECODE_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0 or not result.stdout:
        raise ValueError(f"ffmpeg could not decode the audio: {result.stderr[-300:]!r}")
    return pcm_to_wav(result.stdout, rate_hz=TARGET_RATE_HZ)


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        frames: int = audio.getnframes()
        rate: int = audio.getframerate()
        return frames / float(rate)


def join_wavs(parts: list[bytes]) -> bytes:
    """One WAV from several 8 kHz mono WAVs, in one pass (no repeated concatenation)."""
    frames = []
    for part in parts:
        with wave.open(io.BytesIO(part)) as audio:
            if (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) != (
                TARGET_RATE_HZ,
                1,
                SAMPLE_WIDTH_BYTES,
            ):
                raise ValueError("can only join 8 kHz mono 16-bit WAV")
            frames.append(audio.readframes(audio.getnframes()))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(SAMPLE_WIDTH_BYTES)
        out.setframerate(TARGET_RATE_HZ)
        out.writeframes(b"".join(frames))
    return buffer.getvalue()
