import subprocess

from benchmarks.record import machine_info


def test_git_sha_is_the_benchmarked_checkouts_from_any_folder(tmp_path, monkeypatch):
    expected = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    monkeypatch.chdir(tmp_path)  # not a git folder
    info = machine_info()
    assert info["git_sha"] == expected
    assert info["cores"] >= 1 and info["cpu"]
    assert info["cpu_capability"] in {"DEFAULT", "VSX", "ZVECTOR", "AVX2", "AVX512", "SVE256", "SVE128"}
    assert isinstance(info["cpu_bf16"], bool)
