"""Agent dispatch in the loopback LiveKit server, spoken to as livekit-agents' worker speaks it.

The loopback server runs in this process on 127.0.0.1 (signalling only: no
peer connection is completed, so no namespace is needed). A scripted worker
registers on ``/agent``; a runner whose token names the agent in its
``RoomAgentDispatch`` creates the room; the worker is offered the job,
refuses once (as a loaded livekit-agents worker does), accepts the retry, and
joins with the token it is assigned; the room closes when the runner leaves.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web
from livekit import api
from livekit.protocol import agent, models, rtc

from tests.livekit_loopback.signalling import LoopbackServer

KEY, SECRET = "loopback", "dispatch-test-secret-0123456789abcdef"
AGENT_NAME = "livekit-echo"
BOUND_S = 20.0


def worker_token(agent_grant: bool = True) -> str:
    return api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(agent=agent_grant)).to_jwt()


def runner_token(room: str, dispatch: bool = True) -> str:
    token = (
        api.AccessToken(KEY, SECRET)
        .with_identity("benchmark-runner")
        .with_grants(api.VideoGrants(room_join=True, room=room))
    )
    if dispatch:
        token = token.with_room_config(api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=AGENT_NAME)]))
    return token.to_jwt()


@contextlib.asynccontextmanager
async def loopback():
    """The server on 127.0.0.1; yields (ws base URL, an HTTP session)."""
    runner = web.AppRunner(LoopbackServer(KEY, SECRET).app())
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        async with aiohttp.ClientSession() as http:
            yield f"ws://127.0.0.1:{runner.addresses[0][1]}", http
    finally:
        await runner.cleanup()


async def server_message(ws: aiohttp.ClientWebSocketResponse, kind: str) -> agent.ServerMessage:
    """The next ServerMessage of ``kind`` on a worker socket."""
    while True:
        message = agent.ServerMessage.FromString(await ws.receive_bytes())
        if message.WhichOneof("message") == kind:
            return message


async def signal(ws: aiohttp.ClientWebSocketResponse, kind: str) -> rtc.SignalResponse:
    """The next SignalResponse of ``kind`` on a participant socket."""
    while True:
        response = rtc.SignalResponse.FromString(await ws.receive_bytes())
        if response.WhichOneof("message") == kind:
            return response


async def register(http: aiohttp.ClientSession, base: str) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    ws = await http.ws_connect(f"{base}/agent", headers={"Authorization": f"Bearer {worker_token()}"})
    permission = models.ParticipantPermission(can_publish_data=True, can_subscribe=True, agent=True)
    request = agent.RegisterWorkerRequest(
        type=agent.JobType.JT_ROOM, agent_name=AGENT_NAME, version="1.8.9", allowed_permissions=permission
    )
    await ws.send_bytes(agent.WorkerMessage(register=request).SerializeToString())
    answer = await server_message(ws, "register")
    return ws, answer.register.worker_id


async def join(http: aiohttp.ClientSession, base: str, token: str) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(f"{base}/rtc", params={"access_token": token})


async def answer(ws: aiohttp.ClientWebSocketResponse, job_id: str, available: bool, identity: str = "") -> None:
    response = agent.AvailabilityResponse(job_id=job_id, available=available, participant_identity=identity)
    response.participant_attributes["lk.agent.name"] = AGENT_NAME
    await ws.send_bytes(agent.WorkerMessage(availability=response).SerializeToString())


def test_a_registered_worker_is_dispatched_into_the_room_its_agent_is_named_for_and_terminated_with_it() -> None:
    async def scenario() -> None:
        async with loopback() as (base, http):
            worker, worker_id = await register(http, base)
            assert worker_id.startswith("AW_")
            await worker.send_bytes(agent.WorkerMessage(ping=agent.WorkerPing(timestamp=1234)).SerializeToString())
            assert (await server_message(worker, "pong")).pong.last_timestamp == 1234

            runner = await join(http, base, runner_token("bench-1"))
            await signal(runner, "join")
            offer = (await server_message(worker, "availability")).availability.job
            assert offer.agent_name == AGENT_NAME and offer.room.name == "bench-1"
            assert offer.type == agent.JobType.JT_ROOM and offer.id.startswith("AJ_")
            await answer(worker, offer.id, available=False)  # busy: the server asks again
            again = (await server_message(worker, "availability")).availability.job
            assert again.id == offer.id
            await answer(worker, offer.id, available=True, identity="agent-echo-1")
            assignment = (await server_message(worker, "assignment")).assignment
            assert assignment.job.id == offer.id

            claims = api.TokenVerifier(KEY, SECRET).verify(assignment.token)
            assert claims.identity == "agent-echo-1" and claims.kind == "agent"
            assert claims.video.room == "bench-1" and claims.video.room_join and claims.video.agent
            assert claims.attributes == {"lk.agent.name": AGENT_NAME}

            dispatched = await join(http, base, assignment.token)
            await signal(dispatched, "join")
            [seen] = (await signal(runner, "update")).update.participants
            assert seen.identity == "agent-echo-1" and seen.kind == models.ParticipantInfo.Kind.AGENT

            # The runner leaves: only the agent is left, so the room closes and the job ends.
            await runner.send_bytes(rtc.SignalRequest(leave=rtc.LeaveRequest()).SerializeToString())
            await runner.close()
            assert (await server_message(worker, "termination")).termination.job_id == offer.id
            assert (await signal(dispatched, "leave")).leave.reason == models.DisconnectReason.ROOM_CLOSED
            for ws in (dispatched, worker):
                await ws.close()

    asyncio.run(asyncio.wait_for(scenario(), BOUND_S))


def test_no_job_without_a_dispatch_in_the_token_and_no_worker_without_the_agent_grant() -> None:
    async def scenario() -> None:
        async with loopback() as (base, http):
            refused = await http.get(
                f"{base.replace('ws', 'http', 1)}/agent", headers={"Authorization": f"Bearer {worker_token(False)}"}
            )
            assert refused.status == 401
            worker, _ = await register(http, base)
            runner = await join(http, base, runner_token("bench-2", dispatch=False))
            await signal(runner, "join")
            try:
                async with asyncio.timeout(1.0):
                    message = await server_message(worker, "availability")
                raise AssertionError(f"offered a job nobody asked for: {message}")
            except TimeoutError:
                pass
            for ws in (runner, worker):
                await ws.close()

    asyncio.run(asyncio.wait_for(scenario(), BOUND_S))
