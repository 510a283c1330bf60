"""Faults injected into real processes while web chat and Telegram respondents take the survey.

Each test ends with :meth:`Run.assert_clean`: every respondent has exactly one response, completed, no
question twice on its path, every acknowledged answer stored with the value sent, no empty reply, no
"already answered" that left the question unchanged, and every respondent finished in time. A "try again"
is allowed (and counted) unless a test says otherwise; the respondent then delivers the same frame or
update again.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.stores.redis_store import key_secret, pseudonym
from tests.faults.harness import INFORMATIONAL, QUESTIONS, SECRET, Cluster, Gate, Respondent, Run

pytestmark = pytest.mark.faults


# --------------------------------------------------------------------------- kill -9 of the bot mid-answer


async def _kill_bot_with_answer_in_flight(cluster: Cluster, store: str, name: str) -> None:
    """Respondents stop before an answer (a typed one, and a button); ``store`` is SIGSTOPped; they send
    it; 0.5 s later the bot is killed with SIGKILL; the store is continued and a new bot started; the
    respondents deliver the very same frame / update again. Each must then be told the next step exactly
    once, and MongoDB must hold the answer once."""
    async with Run(cluster, name) as run:
        respondents = run.add(web=2, telegram=2)
        gate = Gate("in flight", len(respondents))
        pending: dict[Respondent, str] = {}
        for respondent in respondents:
            before = 1 if respondent.index == 0 else 3  # count (typed), tea (a button)
            respondent.gates[before] = gate
            pending[respondent] = QUESTIONS[before].id
        run.start(timeout=50)
        await gate.wait_all(20, run)
        fault = run.fault(f"{store} SIGSTOP, bot kill -9, restart")
        cluster.stores.pause(store)
        gate.open()
        await asyncio.sleep(0.5)
        cluster.kill_bot()
        cluster.stores.resume(store)
        await cluster.restart_bot()
        run.end(fault)
        await run.finish()
    once = {str(r) for r, q in pending.items() if r.tally.sent[q] < 2}
    assert not once, f"the fault hit no answer in flight: {sorted(once)} delivered it only once"
    told = {f"{r} {q}": r.tally.told[q] for r, q in pending.items()}
    verdict = run.verdict(
        extra={"told_next_step_not_once": sum(1 for n in told.values() if n != 1)},
        notes=[f"times told the next step in reply to the answer in flight: {told}"],
    )
    run.assert_clean(verdict)


async def test_bot_killed_during_mongodb_write_then_redelivered(cluster: Cluster) -> None:
    await _kill_bot_with_answer_in_flight(cluster, "mongo", "kill -9 bot, MongoDB write in flight")


async def test_bot_killed_during_redis_begin_then_redelivered(cluster: Cluster) -> None:
    """The begin script (dedupe mark, lock) reaches Redis only after the bot is dead."""
    await _kill_bot_with_answer_in_flight(cluster, "redis", "kill -9 bot, Redis begin in flight")


# --------------------------------------------------------------------------- stalls


async def _stall(cluster: Cluster, name: str, store: str, seconds: float, web: int, telegram: int) -> None:
    """Respondents answer with a short pause between answers; once a third of the answers are in,
    ``store`` is SIGSTOPped for ``seconds``, then continued."""
    async with Run(cluster, name) as run:
        run.add(web=web, telegram=telegram, pace=0.3)
        run.start(timeout=seconds + 40)
        await run.wait_acked(len(run.respondents) * len(QUESTIONS) // 3, 30)
        fault = run.fault(f"{store} SIGSTOP")
        cluster.stores.pause(store)
        await asyncio.sleep(seconds)
        cluster.stores.resume(store)
        run.end(fault)
        await run.finish()
    run.assert_clean(run.verdict())


async def test_redis_stall_of_3s(cluster: Cluster) -> None:
    await _stall(cluster, "Redis stalled 3 s", "redis", 3, web=7, telegram=3)


async def test_redis_stall_of_15s(cluster: Cluster) -> None:
    await _stall(cluster, "Redis stalled 15 s", "redis", 15, web=15, telegram=5)


async def test_mongodb_stall_of_15s(cluster: Cluster) -> None:
    await _stall(cluster, "MongoDB stalled 15 s", "mongo", 15, web=15, telegram=5)


# --------------------------------------------------------------------------- Redis loses everything


async def test_redis_flushall_then_frames_resent(cluster: Cluster) -> None:
    """Respondents stop at different questions; Redis is flushed (sessions, locks, seen update ids); each
    sends its last acknowledged frame / update once more (same id), then goes on. Nothing may be stored
    twice or in the wrong place (a resent number must not become the answer to the text question that
    follows it), and everyone finishes."""
    async with Run(cluster, "Redis FLUSHALL, frames resent") as run:
        respondents = run.add(web=10, telegram=5)
        gate = Gate("flushall", len(respondents))
        for respondent in respondents:
            respondent.gates[1 + respondent.index % 5] = gate
            respondent.replay_after.add(gate.name)
        run.start(timeout=40)
        await gate.wait_all(30, run)
        fault = run.fault("Redis FLUSHALL")
        cluster.stores.flushall()
        run.end(fault)
        gate.open()
        await run.finish()
    run.assert_clean(run.verdict())


# --------------------------------------------------------------------------- MongoDB dies


async def test_mongodb_killed_right_after_acknowledgements(cluster: Cluster) -> None:
    """Respondents send one answer each at the same moment; the instant the first web respondent is told
    the next question, SecantusDB is killed with SIGKILL, then started again on the same storage and port
    (the others get "try again" and deliver again). Every acknowledged answer must be there, checked
    before anyone goes further; then everyone finishes."""
    async with Run(cluster, "MongoDB kill -9 right after acks") as run:
        respondents = run.add(web=10, telegram=4)
        ready = Gate("ready", len(respondents))
        burst = Gate("acknowledged", len(respondents))
        for respondent in respondents:
            answered = 1 + respondent.index % 4
            respondent.gates[answered] = ready
            respondent.gates[answered + 1] = burst
        killed = asyncio.Event()

        def kill_at_first_ack(respondent: Respondent, qid: str) -> None:
            if ready.opened.is_set() and respondent.platform == "web" and not killed.is_set():
                cluster.stores.kill("mongo")  # synchronously: nothing else runs in between
                killed.set()

        run.on_ack = kill_at_first_ack
        run.start(timeout=60)
        await ready.wait_all(30, run)
        ready.open()
        await asyncio.wait_for(killed.wait(), 30)
        fault = run.fault("MongoDB kill -9, restart")
        acked_before = run.acked
        await cluster.stores.restart_mongo()
        run.end(fault)
        await burst.wait_all(40, run)
        lost, lines = run.lost_now()
        burst.open()
        await run.finish()
    run.extra_figures.append(f"{acked_before} answers acknowledged before the kill")
    run.assert_clean(run.verdict(extra={"lost_at_restart": lost}, notes=lines[:10]))


# --------------------------------------------------------------------------- load without faults


async def test_200_concurrent_web_respondents(cluster: Cluster) -> None:
    """No fault: no "try again", no empty reply, everyone completes. All connect at the same moment, then
    take a second over each answer (without that pause, latency is the queue of 200 respondents in front of
    the embedded MongoDB-protocol server, ~1-2 s here, close to the engine's 3 s deadline per message)."""
    async with Run(cluster, "200 web respondents, no fault") as run:
        run.add(web=200, pace=1.0)
        run.start(timeout=100)
        await run.finish()
    run.assert_clean(run.verdict(), allowed=INFORMATIONAL - {"try_again", "no_reply"})


# --------------------------------------------------------------------------- a stale session


async def test_session_one_revision_behind_is_not_refused(cluster: Cluster) -> None:
    """MongoDB's response one revision ahead of the Redis session: a respondent answers the text question,
    then its session key (``sb:s:{platform}:{HMAC of user}``) gets back the value it had before; pressing
    a button of the question now shown must be accepted, not answered "This question was already
    answered."."""
    async with Run(cluster, "stale session") as run:
        respondents = run.add(web=1, telegram=1)
        before = Gate("before the text question", len(respondents))
        after = Gate("after the text question", len(respondents))
        for respondent in respondents:
            respondent.gates[2] = before  # the next answer is motto (text)
            respondent.gates[3] = after  # then tea (a button)
        run.start(timeout=30)
        await before.wait_all(15, run)
        secret = key_secret(SECRET.encode())
        keys = {r: f"sb:s:{r.platform}:{pseudonym(secret, r.user_id)}" for r in respondents}
        with cluster.stores.redis_client() as client:
            saved = {r: client.get(key) for r, key in keys.items()}
        assert all(saved.values()), f"no session under {sorted(keys.values())}: the key format changed?"
        before.open()
        await after.wait_all(15, run)
        fault = run.fault("Redis session restored to the revision before")
        with cluster.stores.redis_client() as client:
            for respondent, key in keys.items():
                client.set(key, saved[respondent], keepttl=True)
        run.end(fault)
        after.open()
        await run.finish()
    run.assert_clean(run.verdict())
