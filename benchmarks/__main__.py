"""`python -m benchmarks`: regenerate benchmarks/README.md from the recorded results."""

from benchmarks.table import write_readme

if __name__ == "__main__":
    print(f"wrote {write_readme()}")
