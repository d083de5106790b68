"""Entry point: ``python -m benchmarks [--tiny]`` (see :mod:`benchmarks.cli`)."""

if __name__ == "__main__":  # not when a spawned benchmark worker imports the parent's main module
    from absl import app

    from benchmarks.cli import main

    app.run(main)
