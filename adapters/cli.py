"""The ``surveybot`` command: validate and load surveys, chat in the terminal, run the bot."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from adapters.config import Config, load_config
from bot.errors import CannotListen, ConfigError, DefinitionError, StorageUnavailable, VersionConflict
from bot.survey import Survey

if TYPE_CHECKING:
    from adapters.bootstrap import App

T = TypeVar("T")

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="surveybot: surveys in chat.")
err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", envvar="SURVEYBOT_CONFIG", help="Configuration file (default ./config.yaml)."),
]


class _State:
    config_path: Path | None = None


@cli.callback()
def _options(config: ConfigOption = None) -> None:
    _State.config_path = config


def _config() -> Config:
    from adapters.logs import setup_logging

    config = load_config(_State.config_path)
    setup_logging(config)
    return config


def _with_app(config: Config, work: Callable[[App], Awaitable[T]]) -> T:
    from adapters.bootstrap import open_app

    async def main() -> T:
        app = await open_app(config)
        try:
            return await work(app)
        finally:
            await app.aclose()

    return asyncio.run(main())


def survey_files(paths: list[Path]) -> Iterator[Path]:
    """The YAML files named, and those in the folders named, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path


def _read_surveys(paths: list[Path]) -> tuple[list[Survey], int]:
    from bot.loader import load_file

    surveys, refused = [], 0
    for file in survey_files(paths):
        try:
            surveys.append(load_file(file))
        except DefinitionError as exc:
            refused += 1
            for problem in exc.problems:
                err.print(str(problem), markup=False, soft_wrap=True)
        except OSError as exc:
            refused += 1
            err.print(f"{file}:0: cannot read: {exc.strerror}", markup=False, soft_wrap=True)
    return surveys, refused


@cli.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Survey files or folders.")]) -> None:
    """Check survey files; print every problem as FILE:LINE and exit 1 if there is any."""
    surveys, refused = _read_surveys(files)
    for survey in surveys:
        out.print(
            f"ok {survey.file} ({survey.id}, {len(survey.questions)} questions)", markup=False, soft_wrap=True
        )
    if refused or not surveys:
        raise typer.Exit(1)


class CheckFormat(StrEnum):
    text = "text"
    json = "json"


@cli.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Survey files or folders.")],
    output: Annotated[CheckFormat, typer.Option("--format", help="text, or json for CI.")] = CheckFormat.text,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="A warning code to leave out (repeatable).")
    ] = None,
    transcript: Annotated[
        Path | None,
        typer.Option(
            "--transcript",
            help="An answers file (one a line, [Label] presses a button): print the conversation.",
        ),
    ] = None,
    all_paths: Annotated[
        Path | None, typer.Option("--all-paths", help="Write one transcript per path into this folder.")
    ] = None,
    platform: Annotated[
        str, typer.Option("--platform", help="How transcripts show: console, telegram or slack.")
    ] = "console",
    language: Annotated[
        str | None, typer.Option("--language", help="The respondent's language in transcripts (de, es…).")
    ] = None,
) -> None:
    """Walk every path of each survey and warn of what respondents would stumble on (FILE:LINE).

    Exit 0 when no warning, 1 when there are warnings, 2 when a file is refused (see `validate`)."""
    from adapters import check as checking

    unknown = sorted(set(ignore or ()) - set(checking.ALL_CODES))
    if unknown:
        err.print(f"unknown warning code {', '.join(unknown)}; known: {', '.join(checking.ALL_CODES)}")
        raise typer.Exit(2)
    if platform not in checking.PLATFORMS:
        err.print(f"unknown platform {platform!r}; known: {', '.join(checking.PLATFORMS)}")
        raise typer.Exit(2)
    surveys, refused = _read_surveys(files)
    if transcript is not None:
        if len(surveys) != 1 or refused:
            err.print("--transcript takes exactly one survey file that loads")
            raise typer.Exit(2)
        try:
            said = checking.read_answers(transcript.read_text(encoding="utf-8"))
            shown = checking.transcript(surveys[0], said, platform, language)
            out.print(shown, markup=False, end="", soft_wrap=True)
        except (OSError, UnicodeDecodeError, checking.TranscriptError) as exc:
            err.print(f"{transcript}: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
        return
    reports = [checking.check_survey(survey, ignore or ()) for survey in surveys]
    if all_paths is not None:
        all_paths.mkdir(parents=True, exist_ok=True)
        for report in reports:
            for name, text in checking.path_transcripts(report.survey, report, platform, language):
                (all_paths / name).write_text(text, encoding="utf-8")
            err.print(f"{len(report.paths.answers)} transcripts of '{report.survey_id}' in {all_paths}")
    if output is CheckFormat.json:
        document = {"surveys": [r.to_dict() for r in reports], "refused": refused}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        for report in reports:
            out.print(report.text(), markup=False, soft_wrap=True)
    if refused or not surveys:
        raise typer.Exit(2)
    if any(r.findings for r in reports):
        raise typer.Exit(1)


@cli.command()
def load(paths: Annotated[list[Path], typer.Argument(help="Survey files or folders.")]) -> None:
    """Validate survey files, then store each new version. A refused file stores nothing."""
    from bot.catalog import publish

    config = _config()
    surveys, refused = _read_surveys(paths)

    async def store(app: App) -> int:
        failures = 0
        with Progress(console=err, transient=True, disable=len(surveys) < 5) as progress:
            task = progress.add_task("loading", total=len(surveys))
            for survey in surveys:
                try:
                    result = await publish(app.surveys, survey)
                except VersionConflict as exc:
                    failures += 1
                    err.print(str(exc), markup=False, soft_wrap=True)
                else:
                    out.print(result.line(), markup=False, soft_wrap=True)
                progress.advance(task)
        return failures

    failures = _with_app(config, store) if surveys else 0
    if refused or failures:
        raise typer.Exit(1)


@cli.command("surveys")
def list_surveys() -> None:
    """The stored surveys: newest version and response counts."""
    from bot.responses import Status

    async def listing(app: App) -> Table:
        table = Table("id", "title", "version", "in progress", "completed", "archived")
        offered = {s.id for s in await app.surveys.list_newest()}
        for survey in await app.surveys.list_newest(include_archived=True):
            counts = await app.responses.count(survey.id)
            table.add_row(
                survey.id,
                survey.title,
                str(survey.version),
                str(counts.get(Status.IN_PROGRESS, 0)),
                str(counts.get(Status.COMPLETED, 0)),
                "" if survey.id in offered else "yes",
            )
        return table

    out.print(_with_app(_config(), listing))


@cli.command()
def chat(
    survey_id: Annotated[
        str | None, typer.Argument(help="The survey to take; omitted: resume or choose.")
    ] = None,
    user_id: Annotated[str, typer.Option(help="Your respondent id on the console.")] = "",
    name: Annotated[str, typer.Option(help="Your name, as the survey greets you.")] = "",
    language: Annotated[
        str | None,
        typer.Option(
            help="Your language (de, es…); default from LANGUAGE/LC_ALL/LANG; /language changes it."
        ),
    ] = None,
) -> None:
    """Take a survey in the terminal: one line per message; works piped too."""
    from adapters.console import ConsoleChat, terminal_language

    config = _config()
    logging.getLogger().setLevel(logging.WARNING)
    user = user_id or getpass.getuser()
    first = f"/start {survey_id}" if survey_id else "/start"

    async def talk(app: App) -> None:
        console = ConsoleChat(app.engine, user, name or user, language=language or terminal_language())
        await console.run(first, prompt=sys.stdin.isatty())

    _with_app(config, talk)


@cli.command()
def run() -> None:
    """Serve the web chat, admin API, health and metrics (web.host:web.port), and run every platform
    adapter whose credentials are configured, until SIGINT or SIGTERM."""
    from adapters.runner import serve

    asyncio.run(serve(_config()))


@cli.command()
def results(
    survey_id: Annotated[str, typer.Argument(help="The survey to summarise.")],
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write every response as CSV to this file.")
    ] = None,
    charts_dir: Annotated[
        Path | None, typer.Option("--charts", help="Also write the charts as PNG files into this folder.")
    ] = None,
) -> None:
    """Print a survey's results; optionally export its responses as CSV and its charts as PNG."""
    from adapters.reports.charts import render_charts
    from adapters.reports.export import csv_lines, export_table
    from bot.errors import SurveyNotFound
    from bot.results import summarize, summary_text

    async def report(app: App) -> str:
        cache, responses = app.cache, app.responses
        summary = await summarize(cache, responses, survey_id)
        if csv_file is not None:
            table = await export_table(cache, responses, survey_id)
            with csv_file.open("w", encoding="utf-8", newline="") as file:
                file.writelines(csv_lines(table))
            err.print(f"wrote {len(table.rows)} responses to {csv_file}", markup=False, soft_wrap=True)
        if charts_dir is not None:
            charts_dir.mkdir(parents=True, exist_ok=True)
            for chart in await asyncio.to_thread(render_charts, summary):
                (charts_dir / f"{chart.name}.png").write_bytes(chart.png)
                err.print(f"wrote {charts_dir / chart.name}.png", markup=False, soft_wrap=True)
        return summary_text(summary)

    try:
        out.print(_with_app(_config(), report), markup=False, soft_wrap=True)
    except SurveyNotFound as exc:
        err.print(f"surveybot: {exc}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


webhooks_cli = typer.Typer(no_args_is_help=True, help="Survey webhooks: endpoints, deliveries, retries.")
cli.add_typer(webhooks_cli, name="webhooks")


@webhooks_cli.command("secrets")
def webhook_secrets(survey_id: Annotated[str, typer.Argument(help="The survey.")]) -> None:
    """The newest version's webhook endpoints, each with the secret its requests are signed with."""
    from adapters.webhooks import signing_secret
    from bot.errors import SurveyNotFound

    async def listing(app: App) -> Table:
        try:
            survey = await app.cache.get(survey_id)
        except SurveyNotFound as exc:
            err.print(f"surveybot: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        table = Table("url", "events", "signing secret")
        for hook in survey.settings.webhooks:
            table.add_row(hook.url, ", ".join(sorted(hook.events)), signing_secret(app.webhook_key, hook.url))
        return table

    out.print(_with_app(_config(), listing))


@webhooks_cli.command("list")
def webhook_deliveries(
    status: Annotated[
        str | None, typer.Option(help="pending, delivered or failed (failed for good).")
    ] = None,
    survey: Annotated[str | None, typer.Option(help="Only this survey's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Deliveries, newest first, with their attempts and last error."""
    from adapters.webhooks import DeliveryStatus

    try:
        wanted = DeliveryStatus(status) if status is not None else None
    except ValueError:
        raise typer.BadParameter("pending, delivered or failed", param_hint="--status") from None

    async def listing(app: App) -> Table:
        table = Table("id", "event", "url", "status", "attempts", "next / delivered", "last error")
        for d in await app.deliveries.list(wanted, survey, limit):
            when = d.delivered_at if d.delivered_at is not None else d.next_at
            table.add_row(
                d.id,
                d.event,
                d.url,
                d.status.value,
                str(d.attempts),
                f"{when:%Y-%m-%d %H:%M:%S}",
                d.last_error or "",
            )
        return table

    out.print(_with_app(_config(), listing))


@webhooks_cli.command("retry")
def webhook_retry(
    delivery_ids: Annotated[list[str], typer.Argument(help="Deliveries failed for good.")],
) -> None:
    """Send failed deliveries again, now (a running bot picks them up within a second)."""
    from datetime import UTC, datetime

    async def retry(app: App) -> int:
        missing = 0
        for delivery_id in delivery_ids:
            if await app.deliveries.retry(delivery_id, datetime.now(UTC)):
                out.print(f"{delivery_id}: pending again", markup=False, soft_wrap=True)
            else:
                missing += 1
                err.print(f"{delivery_id}: no failed delivery with that id", markup=False, soft_wrap=True)
        return missing

    if _with_app(_config(), retry):
        raise typer.Exit(1)


campaigns_cli = typer.Typer(no_args_is_help=True, help="Campaigns: surveys sent to people on a schedule.")
cli.add_typer(campaigns_cli, name="campaigns")


@campaigns_cli.command("load")
def campaigns_load(files: Annotated[list[Path], typer.Argument(help="Campaign files.")]) -> None:
    """Validate campaign files (against their surveys too) and store them; a refused file stores nothing."""
    from datetime import UTC, datetime

    from adapters.campaigns import store_campaign

    async def load_all(app: App) -> int:
        refused = 0
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
                campaign, changed = await store_campaign(
                    app.campaigns, app.cache, text, str(file), datetime.now(UTC)
                )
            except DefinitionError as exc:
                refused += 1
                for problem in exc.problems:
                    err.print(str(problem), markup=False, soft_wrap=True)
            except (OSError, UnicodeDecodeError) as exc:
                refused += 1
                err.print(f"{file}:0: cannot read: {exc}", markup=False, soft_wrap=True)
            else:
                what = "stored" if changed else "unchanged"
                out.print(f"{file}: campaign {campaign.id} {what}", markup=False, soft_wrap=True)
        return refused

    if _with_app(_config(), load_all):
        raise typer.Exit(1)


@campaigns_cli.command("list")
def campaigns_list() -> None:
    """The stored campaigns: survey, schedule, audience size, paused or not."""

    async def listing(app: App) -> Table:
        from adapters.campaigns import web_link

        table = Table("id", "survey", "schedule", "audience", "reminders", "paused", "web link")
        for campaign, paused in await app.campaigns.list():
            audience = campaign.audience
            named = len(audience.telegram) + len(audience.slack_users)
            groups = len(audience.slack_channels) + len(audience.slack_usergroups)
            table.add_row(
                campaign.id,
                campaign.survey_id,
                campaign.schedule.describe(),
                f"{named} people" + (f", {groups} channels/groups" if groups else ""),
                str(campaign.reminders.count),
                "yes" if paused else "",
                web_link(app.config.web.base_url, campaign),
            )
        return table

    out.print(_with_app(_config(), listing))


@campaigns_cli.command("status")
def campaigns_status(campaign_id: Annotated[str, typer.Argument(help="The campaign.")]) -> None:
    """Per occurrence: invited, reminded, started, completed, and what was not sent."""
    from adapters.campaigns import campaign_status
    from bot.errors import NotFound
    from bot.responses import Status

    async def report(app: App) -> Table:
        table = Table(
            "occurrence",
            "invited",
            "reminded",
            "started",
            "completed",
            "pending",
            "failed",
            "skipped",
            "unconfirmed",
            "expired",
        )
        try:
            rows = await campaign_status(app.campaign_runner({}), campaign_id)
        except NotFound as exc:
            err.print(f"surveybot: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        for row in rows:
            table.add_row(row.occurrence, *(str(v) for v in list(vars(row).values())[1:]))
        web = await app.responses.count_campaign(campaign_id)
        if any(web.values()):
            table.add_row("web link", "", "", str(sum(web.values())), str(web[Status.COMPLETED]))
        return table

    out.print(_with_app(_config(), report))


def _pause(campaign_id: str, paused: bool) -> None:
    from bot.errors import NotFound

    async def change(app: App) -> None:
        try:
            await app.campaigns.set_paused(campaign_id, paused)
        except NotFound as exc:
            err.print(f"surveybot: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(1) from None
        out.print(f"campaign {campaign_id} {'paused' if paused else 'resumed'}", markup=False)

    _with_app(_config(), change)


@campaigns_cli.command("pause")
def campaigns_pause(campaign_id: Annotated[str, typer.Argument(help="The campaign.")]) -> None:
    """Stop planning and sending (invitations due meanwhile wait, and expire after six hours)."""
    _pause(campaign_id, True)


@campaigns_cli.command("resume")
def campaigns_resume(campaign_id: Annotated[str, typer.Argument(help="The campaign.")]) -> None:
    """Plan and send again."""
    _pause(campaign_id, False)


def main() -> None:
    try:
        cli()
    except ConfigError as exc:
        err.print(f"surveybot: configuration error: {exc}", markup=False, soft_wrap=True)
        sys.exit(2)
    except CannotListen as exc:
        err.print(f"surveybot: {exc}", markup=False, soft_wrap=True)
        sys.exit(3)
    except StorageUnavailable as exc:
        err.print(
            f"surveybot: cannot reach the stores ({exc}). Start them with `make services-up`, "
            "or set MONGODB_URI and REDIS_URL.",
            markup=False,
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
