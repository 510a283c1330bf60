"""``python -m devtools services start|stop|status``: the embedded stores ``make run`` and ``make
services-up`` use (data under var/). Production runs real MongoDB and Redis (docker-compose.yml)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from adapters.config import Config, load_config
from bot.errors import ConfigError
from devtools.services import EmbeddedServices, ServiceError

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Development tools of surveybot.")
services_cli = typer.Typer(no_args_is_help=True, help="The embedded MongoDB-protocol server and Redis.")
cli.add_typer(services_cli, name="services")


def _services(config: Config) -> EmbeddedServices:
    return EmbeddedServices(
        Path.cwd(), mongo_port=config.embedded.mongo_port, redis_port=config.embedded.redis_port
    )


def _print_status(services: EmbeddedServices) -> None:
    for line in services.status():
        print(line)


@services_cli.command("start")
def start() -> None:
    """Start the embedded services (data kept under var/), or reuse the running ones."""
    config = load_config()
    if config.external_services:
        print("MONGODB_URI or REDIS_URL is set: using those, starting nothing.")
        return
    services = _services(config)
    services.start()
    _print_status(services)


@services_cli.command("stop")
def stop() -> None:
    """Stop the embedded services by their PIDs."""
    _services(load_config()).stop()


@services_cli.command("status")
def status() -> None:
    """Say whether the embedded services run and answer."""
    _print_status(_services(load_config()))


def main() -> None:
    try:
        cli()
    except ConfigError as exc:
        print(f"devtools: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)
    except ServiceError as exc:
        print(f"devtools: {exc}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
