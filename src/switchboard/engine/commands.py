"""Commands the engine asks the edge to carry out. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Play:
    channel_id: str
    media: str
    playback_id: str
    language: str = ""


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Deliver ``TimerFired(timer_id)`` after ``seconds`` (the runner owns the clock)."""

    timer_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    timer_id: str


@dataclass(frozen=True, slots=True)
class StartRinging:
    """Let the caller hear ringback while a leg is being dialed."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class StopRinging:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Originate:
    """Dial ``endpoint`` as a new channel that enters our app when answered."""

    channel_id: str
    endpoint: str
    timeout: int
    caller_id: str
    app_args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FindTargets:
    """Which of a route's targets can ring now, and in what order?

    Answered at once by the daemon (no I/O: it keeps endpoint states from Asterisk
    and who is on a call or idle longest) with ``TargetsFound(request_id, ...)``.
    ``presences[i]`` is the endpoint whose state tells whether target ``i`` can ring.
    """

    request_id: str
    route_key: str  # "<flow>:<node>", the memory of round robin
    strategy: str
    presences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FindAgent:
    """Which agent should take this call? (a route with ``agents``)

    The daemon looks the caller up in the CRM, ranks the free agents, reserves the
    best one and answers ``AgentFound(request_id, ...)``: at once, or, when nobody
    is free and ``wait`` is set, later, when an agent frees up (waiting calls are
    served VIPs first, then in arrival order). Every ask of one visit to the route
    has the same ``search_id``: the wait, and so escalation, counts from the first.
    """

    request_id: str
    search_id: str
    call_id: str
    skills: tuple[tuple[str, int], ...]  # (skill, minimum proficiency)
    language: str  # "": the customer's language from the CRM, else ``call_language``
    call_language: str
    site: str  # the home site ("": any)
    caller: str  # the caller ID as received (the CRM lookup normalises it)
    owner_first: bool  # offer the customer's owner agent first
    exclude: tuple[str, ...]  # agents already offered this call
    wait: bool
    widen_after: int
    any_after: int


@dataclass(frozen=True, slots=True)
class ReportAgent:
    """What became of a reserved agent's offer: ``answered`` (on the call),
    ``talked`` (the call ended: wrap-up, then free), ``missed`` (rang out: counted,
    a short penalty) or ``cancelled`` (freed, nothing counted)."""

    call_id: str
    agent: str
    result: str


@dataclass(frozen=True, slots=True)
class StopAgentSearch:
    """The call no longer waits for an agent (it left, or gave up)."""

    call_id: str
    search_id: str


@dataclass(frozen=True, slots=True)
class StartMoh:
    channel_id: str
    moh_class: str = "default"


@dataclass(frozen=True, slots=True)
class StopMoh:
    channel_id: str


@dataclass(frozen=True, slots=True)
class JoinQueue:
    """Take a place at the end of ``queue``'s line. When it is this call's turn and
    some of ``presences`` can ring, the daemon sends ``TargetsFound(request_id, ...)``."""

    queue: str
    call_id: str
    request_id: str
    strategy: str
    presences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueueReady:
    """The phones offered did not answer: offer again when they can (the call keeps
    its place at the head of the line)."""

    queue: str
    call_id: str


@dataclass(frozen=True, slots=True)
class LeaveQueue:
    queue: str
    call_id: str


@dataclass(frozen=True, slots=True)
class AskPosition:
    """Answered at once with ``QueuePosition(request_id, position)`` (1: next)."""

    request_id: str
    queue: str
    call_id: str


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """The caller asks to hang up and keep their place: call them back on ``number``
    when their turn comes. Answered at once with ``CallbackDecided(request_id)``:
    taken (stored on disk before the caller hears it is), or refused (the number
    fails the dial policy or its limit, or the request could not be stored)."""

    request_id: str
    queue: str
    call_id: str
    number: str  # the caller's number, as received (the daemon checks it)
    dialed: str  # the company number they called (shown to them on the callback)
    endpoints: tuple[str, ...]  # the queue's phones: an agent is rung first
    strategy: str
    ring_seconds: int
    trunk: str  # the callback to the caller goes out through this trunk


@dataclass(frozen=True, slots=True)
class PlaceCallback:
    """The callback taken for ``request_id`` takes the caller's place in line (issued
    once the phones ringing for the caller are hung up, so none is rung twice)."""

    request_id: str


@dataclass(frozen=True, slots=True)
class Record:
    """Record the caller (voicemail); ``RecordingFinished(name)`` comes back."""

    channel_id: str
    name: str
    max_seconds: int
    max_silence: int
    beep: bool = True
    terminate_on: str = "#"


@dataclass(frozen=True, slots=True)
class KeepVoicemail:
    """Store a finished recording as a voicemail (file, database row, email)."""

    recording: str
    mailbox: str
    call_id: str
    caller: str
    dialed: str
    started_at: str  # ISO 8601, "" if unknown
    # "recording": it has started (kept in case the daemon stops before it ends:
    # fetched after wait_s); "fetch": it is complete; "cancel": there is none.
    stage: str = "fetch"
    wait_s: int = 0


@dataclass(frozen=True, slots=True)
class RecordBridge:
    """Record the conversation in a bridge (both parties, mixed) as ``name``: a
    channel cannot be recorded while it is bridged (409). No beep, no limit: the
    recording ends when the bridge is destroyed."""

    bridge_id: str
    name: str
    format: str = "wav"


@dataclass(frozen=True, slots=True)
class KeepCallRecording:
    """Store a recorded conversation and link it from the call's row.

    ``recording``: it has started (noted before it is asked for, so a daemon that
    stops meanwhile does not lose it); ``ended``: the call is over, fetch it once
    Asterisk has finished the file; ``cancel``: Asterisk refused, there is none."""

    name: str
    call_id: str
    started_at: str  # ISO 8601, "" if unknown
    stage: str = "recording"


@dataclass(frozen=True, slots=True)
class CreateBridge:
    bridge_id: str


@dataclass(frozen=True, slots=True)
class AddToBridge:
    bridge_id: str
    channel_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True, slots=True)
class Hangup:
    channel_id: str


@dataclass(frozen=True, slots=True)
class ContinueInDialplan:
    """Hand the caller back to the dialplan: by default to the next priority after
    Stasis() (the fallback), or to ``context``/``extension`` (e.g. voicemail)."""

    channel_id: str
    context: str = ""
    extension: str = ""


Command = (
    Answer
    | Play
    | StopPlayback
    | StartTimer
    | CancelTimer
    | StartRinging
    | StopRinging
    | Originate
    | FindTargets
    | FindAgent
    | ReportAgent
    | StopAgentSearch
    | StartMoh
    | StopMoh
    | JoinQueue
    | QueueReady
    | LeaveQueue
    | AskPosition
    | RequestCallback
    | PlaceCallback
    | Record
    | KeepVoicemail
    | RecordBridge
    | KeepCallRecording
    | CreateBridge
    | AddToBridge
    | DestroyBridge
    | Hangup
    | ContinueInDialplan
)
