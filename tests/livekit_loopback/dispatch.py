"""Agent dispatch: livekit-agents workers on ``/agent`` and the jobs the server gives them.

A worker (livekit-agents' ``AgentServer``) connects to ``/agent`` with a token
carrying the ``agent`` grant and registers (``RegisterWorkerRequest``: job type
and agent name); the answer is its worker id. When a join creates a room and
its token's ``RoomConfiguration`` names agents (``RoomAgentDispatch``), each is
offered as a job to a worker registered under that name
(``AvailabilityRequest``). A worker that accepts gets a ``JobAssignment`` with
a join token for that room, minted as LiveKit's ``BuildAgentToken`` does
(kind agent, the ``agent`` grant, the identity the worker asked for). When the
last participant that is not an agent leaves, the room closes: each job's
worker gets a ``JobTermination`` and the agents are told the room closed.
Worker pings are answered; a job's status updates (running, ended) and a
worker's first status report and each change (``WS_AVAILABLE``/``WS_FULL``,
from its load) logged.

A refused or unanswered offer is made again until ``DISPATCH_TIMEOUT_S``: a
worker refuses while its CPU load is above its threshold (0.7 by default) and
may accept a moment later, and a worker may still be registering when the
first participant joins.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from livekit import api
from livekit.protocol import agent, models

from tests.livekit_loopback.room import Room, sid

log = logging.getLogger(__name__)

DISPATCH_TIMEOUT_S = 30.0
#: How long a worker has to answer one offer, and the pause before offering again.
ANSWER_TIMEOUT_S = 10.0
RETRY_INTERVAL_S = 0.5
#: What LiveKit's agent tokens are valid for.
AGENT_TOKEN_TTL_S = 3600


@dataclass
class Worker:
    """One registered worker: its socket, what it registered as, and its offers awaiting an answer."""

    ws: web.WebSocketResponse
    id: str
    agent_name: str
    job_type: int
    permission: models.ParticipantPermission
    status: int | None = None  # until its first report
    answers: dict[str, asyncio.Future[agent.AvailabilityResponse]] = field(default_factory=dict)

    async def send(self, message: agent.ServerMessage) -> None:
        await self.ws.send_bytes(message.SerializeToString())


@dataclass
class Job:
    job: agent.Job
    worker: Worker


class Dispatcher:
    """Registered workers, and jobs by room name."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self._key, self._secret = api_key, api_secret
        self._verifier = api.TokenVerifier(api_key, api_secret)
        self.workers: dict[str, Worker] = {}
        self.jobs: dict[str, list[Job]] = {}
        self._offers: set[asyncio.Task] = set()

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """``GET /agent``: one worker's session, from registration until its socket closes."""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            if not self._verifier.verify(token).video.agent:
                raise ValueError("the token has no agent grant")
        except Exception as exc:
            log.info("refused a worker: %s", exc)
            return web.Response(status=401, text=str(exc))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        first = await ws.receive()
        hello = agent.WorkerMessage.FromString(first.data) if first.type == WSMsgType.BINARY else None
        if hello is None or not hello.HasField("register"):
            await ws.close()  # livekit-agents registers first, and waits for the answer before anything else
            return ws
        register = hello.register
        worker = Worker(ws, sid("AW"), register.agent_name, register.type, register.allowed_permissions)
        self.workers[worker.id] = worker
        await worker.send(
            agent.ServerMessage(
                register=agent.RegisterWorkerResponse(
                    worker_id=worker.id, server_info=models.ServerInfo(version="1.9.0", protocol=16, node_id="loopback")
                )
            )
        )
        log.info("worker %s registered for agent %r", worker.id, worker.agent_name)
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    await self._handle(worker, agent.WorkerMessage.FromString(message.data))
        finally:
            del self.workers[worker.id]
            for answer in worker.answers.values():
                answer.cancel()
            log.info("worker %s left", worker.id)
        return ws

    async def _handle(self, worker: Worker, message: agent.WorkerMessage) -> None:
        kind = message.WhichOneof("message")
        if kind == "availability":
            answer = worker.answers.pop(message.availability.job_id, None)
            if answer is not None and not answer.done():
                answer.set_result(message.availability)
        elif kind == "update_job":
            update = message.update_job
            log.info("job %s is %s %s", update.job_id, agent.JobStatus.Name(update.status), update.error)
        elif kind == "ping":
            now_ms = int(time.time() * 1000)
            pong = agent.WorkerPong(last_timestamp=message.ping.timestamp, timestamp=now_ms)
            await worker.send(agent.ServerMessage(pong=pong))
        elif kind == "update_worker" and message.update_worker.status != worker.status:
            worker.status = message.update_worker.status
            status = agent.WorkerStatus.Name(worker.status)
            log.info("worker %s is %s (load %.2f)", worker.id, status, message.update_worker.load)
        # migrate_job, simulate_job: nothing to do here

    def dispatch(self, room: Room, dispatches: Iterable[models.RoomAgentDispatch]) -> None:
        """Offer each named agent a job in ``room`` (in the background: the join goes on)."""
        for wanted in dispatches:
            job = agent.Job(
                id=sid("AJ"),
                dispatch_id=sid("AD"),
                type=agent.JobType.JT_ROOM,
                room=room.info(),
                agent_name=wanted.agent_name,
                metadata=wanted.metadata,
                state=agent.JobState(status=agent.JobStatus.JS_PENDING, updated_at=time.time_ns()),
            )
            task = asyncio.get_running_loop().create_task(self._offer(room, job))
            self._offers.add(task)
            task.add_done_callback(self._offers.discard)

    async def _offer(self, room: Room, job: agent.Job) -> None:
        deadline = time.monotonic() + DISPATCH_TIMEOUT_S
        offers = 0
        while time.monotonic() < deadline and room.participants:
            for worker in [w for w in self.workers.values() if w.agent_name == job.agent_name]:
                if worker.job_type != job.type:
                    continue
                offers += 1
                if await self._accepted(worker, room, job):
                    log.info("room %s: job %s assigned to worker %s at offer %d", room.name, job.id, worker.id, offers)
                    return
            await asyncio.sleep(RETRY_INTERVAL_S)
        log.warning(
            "room %s: no worker took agent %r within %g s (%d offers)",
            *(room.name, job.agent_name, DISPATCH_TIMEOUT_S, offers),
        )

    async def _accepted(self, worker: Worker, room: Room, job: agent.Job) -> bool:
        answer = worker.answers[job.id] = asyncio.get_running_loop().create_future()
        try:
            await worker.send(agent.ServerMessage(availability=agent.AvailabilityRequest(job=job)))
            response = await asyncio.wait_for(answer, ANSWER_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError, ConnectionError):
            worker.answers.pop(job.id, None)
            return False
        if not response.available:
            return False
        identity = response.participant_identity or f"agent-{job.id}"
        token = self._agent_token(room.name, identity, response, worker.permission)
        self.jobs.setdefault(room.name, []).append(Job(job, worker))
        await worker.send(agent.ServerMessage(assignment=agent.JobAssignment(job=job, token=token)))
        return True

    def _agent_token(
        self, room: str, identity: str, response: agent.AvailabilityResponse, permission: models.ParticipantPermission
    ) -> str:
        grants = api.VideoGrants(
            room_join=True,
            room=room,
            agent=True,
            can_publish=permission.can_publish,
            can_subscribe=permission.can_subscribe,
            can_publish_data=permission.can_publish_data,
            can_update_own_metadata=permission.can_update_metadata,
            hidden=permission.hidden,
        )
        return (
            api.AccessToken(self._key, self._secret)
            .with_identity(identity)
            .with_name(response.participant_name)
            .with_kind("agent")
            .with_metadata(response.participant_metadata)
            .with_attributes(dict(response.participant_attributes))
            .with_grants(grants)
            .with_ttl(datetime.timedelta(seconds=AGENT_TOKEN_TTL_S))
            .to_jwt()
        )

    async def terminate(self, room_name: str) -> None:
        """The room closed: each of its jobs' workers hears so."""
        for job in self.jobs.pop(room_name, []):
            with contextlib.suppress(ConnectionError):
                await job.worker.send(agent.ServerMessage(termination=agent.JobTermination(job_id=job.job.id)))

    async def close(self) -> None:
        for task in list(self._offers):
            task.cancel()
        for worker in list(self.workers.values()):
            await worker.ws.close()
