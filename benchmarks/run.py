"""`make bench`: every benchmark, one after the other."""

from benchmarks import pipeline


def main() -> None:
    pipeline.main()


if __name__ == "__main__":
    main()
