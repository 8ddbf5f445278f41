"""The image: Dockerfile shape and posture, and its runtime contract shown without a container engine.

No container engine runs here, so the runtime contract is shown with
bubblewrap: `halo serve` runs as the image's unprivileged uid with the whole
root filesystem read-only except the paths the chart mounts (/tmp and
/tmp/halo-metrics), gets ready, and exits 0 on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.conftest import ROOT, Tools, require
from tests.support.server import RunningServer, base_env

DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"
IMAGE_UID = 10001
WRITABLE = ("/tmp", "/tmp/halo-metrics")


def _stages() -> list[list[str]]:
    """Dockerfile instructions (continuation lines joined), split by stage."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_image_is_multi_stage_with_a_compiler_free_non_root_runtime() -> None:
    builder, runtime = _stages()[0], _stages()[-1]
    assert len(_stages()) >= 2
    assert any("pip install" in line for line in builder)
    runtime_text = "\n".join(runtime)
    assert not re.search(r"build-essential|gcc|g\+\+", runtime_text)
    assert any(line.startswith("COPY --from=builder") for line in runtime)
    user = next(line for line in reversed(runtime) if line.startswith("USER "))
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) == IMAGE_UID
    entrypoint = json.loads(
        next(line for line in runtime if line.startswith("ENTRYPOINT ")).split(None, 1)[1]
    )
    cmd = json.loads(next(line for line in runtime if line.startswith("CMD ")).split(None, 1)[1])
    assert entrypoint[-1] == "halo"
    assert cmd == ["serve"]
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime_text


def test_dependencies_install_from_the_lock_before_the_source_is_copied() -> None:
    """A code change rebuilds only the layers after `COPY service`: the locked dependencies stay cached."""
    builder = _stages()[0]
    lock_copy = next(
        i for i, line in enumerate(builder) if re.match(r"COPY (\S+ )*requirements\.lock ", line)
    )
    install = next(i for i, line in enumerate(builder) if "-r requirements.lock" in line)
    source = next(i for i, line in enumerate(builder) if re.match(r"COPY (\S+ )*service ", line))
    assert lock_copy < install < source
    assert "--require-hashes" in builder[install]
    # nothing the service's code changes is copied before the dependencies are installed
    for line in builder[:install]:
        assert not re.match(r"COPY .*(service|migrations|pyproject\.toml|README\.md)", line), line
    # the service itself is installed without reaching an index or resolving anything new
    project = next(line for line in builder[source:] if "pip install" in line)
    assert "--no-deps" in project and "--no-index" in project


def test_base_image_is_pinned_by_digest_with_its_tag_beside_it() -> None:
    for stage in _stages():
        image = stage[0].split()[1]
        match = re.fullmatch(r"python:(3\.11[\w.-]*)@sha256:([0-9a-f]{64})", image)
        assert match, f"{image}: pin python:<3.11 tag>@sha256:<digest>"


def test_image_carries_oci_source_revision_and_version_labels() -> None:
    runtime = _stages()[-1]
    args = {
        line.split()[1].split("=", 1)[0]: line.split()[1].partition("=")[2]
        for line in runtime
        if line.startswith("ARG ")
    }
    labels = " ".join(line for line in runtime if line.startswith("LABEL "))
    for label, arg in (("source", "SOURCE"), ("revision", "REVISION"), ("version", "VERSION")):
        assert f'org.opencontainers.image.{label}="${{{arg}}}"' in labels, label
        assert arg in args, arg
    # `make image` passes the version from pyproject.toml and the revision from git
    make = subprocess.run(
        ["make", "-n", "image"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"--build-arg VERSION={version}" in make
    revision = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    assert f"--build-arg REVISION={revision or 'unknown'}" in make
    assert "--build-arg SOURCE=" in make


def test_make_push_needs_a_registry_and_pushes_there() -> None:
    refused = subprocess.run(
        ["make", "-n", "push"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "set REGISTRY" in refused
    pushed = subprocess.run(
        ["make", "-n", "push", "REGISTRY=registry.example.com/team"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"docker push registry.example.com/team/halo:{version}" in pushed


def _locked() -> dict[str, str]:
    """requirements.lock's pins, by normalised name, each with its sha256 hashes present."""
    text = re.sub(r"\\\n", " ", LOCK.read_text())
    pins = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement = line.split(" --hash=")[0].strip()
        name, _, version = requirement.partition("==")
        assert version, f"not pinned: {line}"
        assert "--hash=sha256:" in line, f"no hash: {requirement}"
        pins[canonicalize_name(name.split("[")[0])] = version.split(";")[0].strip()
    return pins


def test_lock_pins_every_dependency_of_pyproject_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    locked = _locked()
    for dependency in project["project"]["dependencies"]:
        requirement = Requirement(dependency)
        if requirement.marker is not None and not requirement.marker.evaluate(
            {"sys_platform": "linux", "platform_system": "Linux", "python_version": "3.11"}
        ):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is missing from requirements.lock: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{requirement.name}: locked {locked[name]} outside {requirement.specifier}: run `make lock`"
        )
        for extra in requirement.extras:  # redis[hiredis] brings hiredis
            assert canonicalize_name(extra) in locked, f"{requirement.name}[{extra}]"
    # the build backend is locked too, so the project builds offline (--no-build-isolation)
    for backend in project["build-system"]["requires"]:
        assert canonicalize_name(Requirement(backend).name) in locked, backend


def test_lock_was_generated_by_make_lock() -> None:
    header = LOCK.read_text().splitlines()[:3]
    assert any("make lock" in line for line in header)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lock:.*##", makefile, re.MULTILINE)
    assert "pip compile pyproject.toml" in makefile


def test_dockerignore_sends_only_what_the_build_reads() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for stage in _stages():
        for line in stage:
            if line.startswith("COPY ") and "--from" not in line:
                copied.update(line.split()[1:-1])
    assert copied <= allowed
    for path in allowed:
        assert (ROOT / path).exists(), path


def test_chart_runs_the_image_as_its_user() -> None:
    values = yaml.safe_load((ROOT / "charts" / "halo" / "values.yaml").read_text())
    assert values["securityContext"]["runAsUser"] == IMAGE_UID
    assert values["podSecurityContext"]["runAsUser"] == IMAGE_UID


def test_checkov_dockerfile_checks_pass(tools: Tools) -> None:
    skips = yaml.safe_load((ROOT / "tools" / "checkov-skips.yaml").read_text())["dockerfile"] or {}
    command: list[str | Path] = [
        tools.tool("checkov"),
        "--file",
        DOCKERFILE,
        "--framework",
        "dockerfile",
        "--compact",
        "--quiet",
        "--skip-download",
        "--output",
        "json",
    ]
    if skips:
        command += ["--skip-check", ",".join(skips)]
    result = tools.run(*command, check=False)
    report = json.loads(result.stdout)
    failed = report["results"]["failed_checks"] if isinstance(report, dict) else []
    assert not failed, [f"{c['check_id']}: {c['check_name']}" for c in failed]
    assert report["summary"]["passed"] > 0


# --- the runtime contract under bubblewrap ---------------------------------------


def _sandbox_prefix(tmp_home: Path) -> list[str]:
    bwrap = shutil.which("bwrap")
    require(
        Path(bwrap) if bwrap else None, "bubblewrap (bwrap)", "apt-get install bubblewrap; .ci/run does it"
    )
    assert bwrap is not None
    prefix: list[str] = []
    if os.geteuid() == 0:
        # Drop root before the sandbox: the server runs as the image's uid, with no capabilities.
        setpriv = shutil.which("setpriv")
        require(Path(setpriv) if setpriv else None, "setpriv", "apt-get install util-linux")
        assert setpriv is not None
        prefix = [setpriv, "--reuid", str(IMAGE_UID), "--regid", str(IMAGE_UID), "--clear-groups", "--"]
    sandbox = [
        bwrap,
        "--unshare-user",
        "--uid",
        str(IMAGE_UID),
        "--gid",
        str(IMAGE_UID),
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--dir",
        "/tmp/halo-metrics",
        "--chdir",
        "/",
        "--die-with-parent",
    ]
    if ROOT.resolve().is_relative_to("/tmp"):  # a checkout under /tmp: still seen, read-only
        sandbox[-3:-3] = ["--ro-bind", str(ROOT.resolve()), str(ROOT.resolve())]
    return [*prefix, *sandbox]


def _sandbox_python() -> Path:
    """An interpreter the image's uid may run, with the project's installed packages.

    The test environment's interpreter may live where other users cannot read
    (pyenv under /root), so use the system Python of the same minor version,
    as the image does, in a tiny venv that adds the project's site-packages
    (the same packages, the service included) to its path.
    """
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    require(system if system.exists() else None, f"{system.name} (system)", "apt-get install python3")
    venv = ROOT / ".tools" / "sandbox-python"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([str(system), "-m", "venv", str(venv)], check=True, timeout=300)
        # redis-py needs this backport below Python 3.11.3, which a system Python may be.
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "async-timeout>=4.0"], check=True, timeout=300
        )
    site_packages = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "halo-test-environment.pth").write_text(
        f"import site; site.addsitedir({site_packages!r})\n"
    )
    return python


def _sandbox_problem(prefix: list[str], python: Path) -> str | None:
    result = subprocess.run(
        [*prefix, str(python), "-c", "import halo.app"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return None if result.returncode == 0 else (result.stderr.strip() or f"exit {result.returncode}")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    prefix = _sandbox_prefix(tmp_path_factory.mktemp("home"))
    python = _sandbox_python()
    problem = _sandbox_problem(prefix, python)
    if problem is not None:
        # This machine does not allow an unprivileged sandbox (user namespaces off, or
        # the checkout unreadable by other users): said loudly, and a failure under CI,
        # where nothing may be skipped.
        message = f"bubblewrap cannot run the service unprivileged here: {problem[-500:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return prefix, python


def test_sandbox_is_read_only_except_the_mounted_paths(sandbox: tuple[list[str], Path]) -> None:
    prefix, python = sandbox
    probe = (
        "import json, os, sys\n"
        "result = {}\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        with open(os.path.join(path, '.halo-write-probe'), 'w') as f: f.write('x')\n"
        "        result[path] = 'writable'\n"
        "    except OSError as exc:\n"
        "        result[path] = exc.strerror\n"
        "print(json.dumps({'uid': os.getuid(), 'paths': result}))\n"
    )
    package_dir = str(Path(__import__("halo").__file__).parent)
    paths = ["/", str(ROOT), package_dir, "/var/tmp", *WRITABLE]
    result = subprocess.run(
        [*prefix, str(python), "-c", probe, *paths], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(result.stdout)
    assert report["uid"] == IMAGE_UID
    for path in paths:
        expected = "writable" if path in WRITABLE else "Read-only file system"
        assert report["paths"][path] == expected, path


@dataclass
class SandboxedServer(RunningServer):
    prefix: list[str] = field(default_factory=list)
    python: str = sys.executable
    child_pid: int | None = None

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> SandboxedServer:
        env = {**self.env, "PORT": str(self.port)}
        read_fd, write_fd = os.pipe()
        command = [*self.prefix, "--info-fd", str(write_fd), self.python, "-m", "halo", "serve"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,)
            )
        os.close(write_fd)
        with os.fdopen(read_fd) as info:
            # bwrap writes the sandboxed process's pid, as seen from here, before running it.
            self.child_pid = json.loads(info.read())["child-pid"]
        if wait:
            self.wait_ready(timeout)
        return self

    def stop_gracefully(self, timeout: float = 60.0) -> int:
        assert self.process is not None
        assert self.child_pid is not None
        os.kill(self.child_pid, signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@pytest.fixture
def sandboxed(
    sandbox: tuple[list[str], Path], database_url: str, redis_url: str
) -> Iterator[SandboxedServer]:
    env = base_env(
        database_url,
        redis_url,
        WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR="/tmp/halo-metrics",
        TMPDIR="/tmp",
        HOME="/nonexistent",  # the image user's home: nothing to read there
        PYTHONDONTWRITEBYTECODE="1",
    )
    prefix, python = sandbox
    server = SandboxedServer(env, prefix=prefix, python=str(python))
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.kill()
        server.process.wait()


def test_serve_gets_ready_on_a_read_only_root_as_an_unprivileged_user_and_drains_on_sigterm(
    sandboxed: SandboxedServer,
) -> None:
    sandboxed.start(timeout=90)
    assert sandboxed.stop_gracefully() == 0, sandboxed.logs()[-4000:]
