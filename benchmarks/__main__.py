"""Entry point: ``python -m benchmarks [--tiny]`` (see :mod:`benchmarks.cli`)."""

if __name__ == "__main__":  # not when a spawned benchmark worker imports the parent's main module
    from benchmarks import cli

    cli.app.run(cli.main)
