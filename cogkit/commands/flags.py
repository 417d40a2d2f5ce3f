"""Flags several commands share, declared once so their spelling, defaults and help stay in step.

Imports only argparse: command modules use it while the parser is built, on every cogkit run.
"""

from __future__ import annotations

import argparse

PROGRESS_MODES = ("auto", "tty", "plain", "quiet")


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """`--progress` after the command name too; when absent, the global flag's value stands."""
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default=argparse.SUPPRESS,
        help="progress output (default: auto)",
    )


def add_config_file_flag(parser: argparse.ArgumentParser) -> None:
    """`-f COG_YAML` for commands that work on the project; stored as `args.config_file`."""
    parser.add_argument(
        "-f",
        "--file",
        dest="config_file",
        default=None,
        metavar="COG_YAML",
        help="path to cog.yaml (default: found from the current directory upwards)",
    )


def add_package_source_flags(parser: argparse.ArgumentParser) -> None:
    """Where the install steps get packages from: `build`, `push` and `debug` (same graph)."""
    parser.add_argument(
        "--ca-cert",
        default=None,
        metavar="PATH",
        help="CA bundle for network steps, not kept (or COGKIT_CA_CERT)",
    )
    parser.add_argument(
        "--torch-index",
        default=None,
        metavar="auto|pytorch|pypi|URL",
        help="where pinned torch wheels come from (default auto, or COGKIT_TORCH_INDEX; see docs/build.md)",
    )
    parser.add_argument(
        "--find-links",
        default=None,
        metavar="DIR",
        help="a local wheelhouse for the install steps, not in the image (or COGKIT_FIND_LINKS)",
    )


def add_env_flag(parser: argparse.ArgumentParser, *, help: str) -> None:
    """`-e KEY=VALUE`, repeatable, collected as `args.env` (parsed by cogkit.docker.containers)."""
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE", help=help)


def add_gpus_flag(parser: argparse.ArgumentParser, *, help: str) -> None:
    """`--gpus` in docker's syntax; None lets the image's `build.gpu` decide."""
    parser.add_argument("--gpus", default=None, help=help)


def positive_seconds(text: str) -> float:
    """A duration flag's value: a number of seconds above zero (argparse reports the error, exit 2)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of seconds, got {text!r} (for example: --setup-timeout 600)"
        )
    return value


def add_setup_timeout_flag(parser: argparse.ArgumentParser, *, help: str) -> None:
    parser.add_argument("--setup-timeout", type=positive_seconds, default=300.0, metavar="SECONDS", help=help)


def add_model_flags(parser: argparse.ArgumentParser, *, output_default: str | None) -> None:
    """IMAGE and the flags `predict` and `train` share (inputs, output, environment, GPUs, --local)."""
    parser.add_argument("image", nargs="?", default=None, help="image to run (default: build this project)")
    parser.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input: name=value, or name=@file to send a file; repeat a name for a list",
    )
    parser.add_argument(
        "--json",
        metavar="JSON|@FILE|-",
        help="all inputs as a JSON object, from a file, or stdin (- or @-); prints the prediction as JSON",
    )
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="PATH",
        help="where to write a file output"
        + (f" (default: {output_default})" if output_default else " (default: output.<ext>)"),
    )
    add_env_flag(parser, help="environment variable for the model (repeatable)")
    add_setup_timeout_flag(parser, help="how long to wait for setup() to finish (default: 300)")
    add_gpus_flag(
        parser,
        help="GPUs for the container, docker syntax (default: all when cog.yaml sets gpu: true; '' for none)",
    )
    parser.add_argument(
        "--local", action="store_true", help="run in the current Python environment, without Docker"
    )
    add_config_file_flag(parser)
    add_progress_flag(parser)
    add_base_image_flags(parser)


def _bool_word(text: str) -> bool:
    """Cog's bool flags take `=true`/`=false` (cobra's strconv.ParseBool words)."""
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r} (use true or false)")


def add_base_image_flags(parser: argparse.ArgumentParser) -> None:
    """Cog's `--use-cog-base-image[=bool]` and `--use-cuda-base-image` (build, push, run, exec, serve...).

    None means "not given", which Cog treats differently from an explicit true.
    """
    parser.add_argument(
        "--use-cog-base-image",
        nargs="?",
        const=True,
        default=None,
        type=_bool_word,
        metavar="BOOL",
        help="Cog's prebuilt r8.im/cog-base images (not reachable from cogkit builds: noted, then built "
        "without them, as Cog does when none fits)",
    )
    parser.add_argument(
        "--use-cuda-base-image",
        default="auto",
        metavar="auto|false",
        help="false: GPU models build on python:<ver>-slim instead of nvidia/cuda (default: auto)",
    )
