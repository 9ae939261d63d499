"""Servers on loopback that stand in for the notification providers in the channel tests.

Each HTTP receiver is an aiohttp app on 127.0.0.1 with a random port. It checks requests the way
its provider documents them (paths, auth, required fields) and replies with the provider's
status codes and reply shapes. A channel that passes here follows the documented formats, though
a real service checks more than these emulations do.
Every request is recorded. `fail_next` queues replies (a status, headers, a body) or a hang that
are served before the normal handling, for retry and timeout tests.

`SmtpReceiver` runs aiosmtpd with STARTTLS, implicit TLS or plain SMTP and AUTH, on a
self-signed certificate that `make_certificate` creates for the test.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import ipaddress
import itertools
import json
import re
import ssl
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    """One request as the receiver got it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    """A reply served in place of the normal handling: a status, or a hang until stopped."""

    status: int = 500
    body: str = "internal error"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class HttpReceiver:
    """An aiohttp app on loopback that records requests and fails on request (`fail_next`)."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.faults: deque[Fault] = deque()
        self.received = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    async def start(self) -> HttpReceiver:
        app = web.Application(middlewares=[self._record])
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        self.received.set()
        if self.faults:
            fault = self.faults.popleft()
            if fault.hang:
                await self._stopping.wait()
            return web.Response(status=fault.status, text=fault.body, headers=fault.headers)
        return await handler(request)


def json_reply(status: int, document: object) -> web.Response:
    return web.json_response(document, status=status)


def basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    return user, password


class SlackReceiver(HttpReceiver):
    """Slack's incoming webhook: POST /services/T.../B.../SECRET, JSON, replies 200 "ok"."""

    PATH = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"

    @property
    def webhook_url(self) -> str:
        return self.url + self.PATH

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/services/{team}/{bot}/{secret}", self._post)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["secret"] != self.PATH.rsplit("/", 1)[1]:
            return web.Response(status=403, text="invalid_token")
        if request.content_type != "application/json":
            return web.Response(status=400, text="invalid_payload")
        try:
            message = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(message, dict) or not (message.get("text") or message.get("blocks")):
            return web.Response(status=400, text="no_text")
        return web.Response(status=200, text="ok")


class WebhookReceiver(HttpReceiver):
    """A receiver of the generic webhook that verifies the signature as the docs tell users."""

    def __init__(self, secret: bytes, tolerance: float = 300.0) -> None:
        super().__init__()
        self.secret = secret
        self.tolerance = tolerance
        self.verified: list[dict[str, Any]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks/alerts", self._post)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        timestamp = request.headers.get("X-Snmpd-Ng-Timestamp", "")
        signature = request.headers.get("X-Snmpd-Ng-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance:
            return web.Response(status=401, text="stale or missing timestamp")
        expected = hmac.new(self.secret, timestamp.encode() + b"." + body,
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, "sha256=" + expected):
            return web.Response(status=401, text="bad signature")
        self.verified.append(json.loads(body))
        return web.Response(status=204)


PAGERDUTY_SEVERITIES = {"critical", "error", "warning", "info"}


class PagerDutyReceiver(HttpReceiver):
    """PagerDuty Events API v2: POST /v2/enqueue, 202 on success, 400 on an invalid event."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self._enqueue)

    async def _enqueue(self, request: web.Request) -> web.StreamResponse:
        try:
            event = await request.json()
        except ValueError:
            return self._invalid("Malformed JSON")
        errors = self._problems(event)
        if errors:
            return self._invalid(*errors)
        key = event.get("dedup_key") or "generated-key"
        return json_reply(202, {"status": "success", "message": "Event processed",
                                "dedup_key": key})

    @staticmethod
    def _problems(event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event object is invalid"]
        problems = []
        if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
            problems.append("'routing_key' is invalid")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            problems.append("'event_action' is invalid")
        if action != "trigger" and not event.get("dedup_key"):
            problems.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = event.get("payload") or {}
            for key in ("summary", "source", "severity"):
                if not payload.get(key):
                    problems.append(f"'payload.{key}' is missing or blank")
            if payload.get("severity") not in PAGERDUTY_SEVERITIES:
                problems.append("'payload.severity' is invalid")
            if len(payload.get("summary", "")) > 1024:
                problems.append("'payload.summary' is too long")
        return problems

    @staticmethod
    def _invalid(*errors: str) -> web.Response:
        return json_reply(400, {"status": "invalid event", "message": "Event object is invalid",
                                "errors": list(errors)})


class TwilioReceiver(HttpReceiver):
    """Twilio's Messages resource: form POST with basic auth, 201 with the message's sid."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []
        self._sids = itertools.count(1)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["sid"] != self.account_sid or \
                basic_credentials(request) != (self.account_sid, self.auth_token):
            return self._error(401, 20003, "Authenticate")
        form = dict(await request.post())
        if request.content_type != "application/x-www-form-urlencoded":
            return self._error(400, 21601, "Content-Type must be a form")
        for key in ("To", "From", "Body"):
            if not form.get(key):
                return self._error(400, 21602, f"A '{key}' parameter is required.")
        if not re.fullmatch(r"\+[1-9]\d{6,14}", str(form["To"])):
            return self._error(400, 21211, f"The 'To' number {form['To']} is not valid.")
        sid = f"SM{next(self._sids):032x}"
        message = {key: str(value) for key, value in form.items()} | {"sid": sid}
        self.messages.append(message)
        return json_reply(201, {"sid": sid, "status": "queued", "to": form["To"],
                                "from": form["From"], "body": form["Body"]})

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return json_reply(status, {"code": code, "message": message, "status": status,
                                   "more_info": f"https://www.twilio.com/docs/errors/{code}"})


@dataclass
class JiraIssue:
    key: str
    fields: dict[str, Any]
    status: str = "To Do"
    comments: list[dict[str, Any]] = field(default_factory=list)


class JiraReceiver(HttpReceiver):
    """Jira Cloud REST API v3: issues, JQL search by label, comments and transitions."""

    TRANSITIONS = ({"id": "11", "name": "In Progress"}, {"id": "31", "name": "Done"})
    _JQL = re.compile(r'^project = "(?P<project>[^"]+)" AND labels = "(?P<label>[^"]+)" '
                      r"AND statusCategory != Done ORDER BY created DESC$")

    def __init__(self, email: str, token: str, project: str = "OPS") -> None:
        super().__init__()
        self.credentials = (email, token)
        self.project = project
        self.issues: dict[str, JiraIssue] = {}
        self.searches: list[str] = []
        self.lose_create_replies = 0
        """Creates that store the issue but reply 502, as a proxy that lost the reply would."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/rest/api/3/search/jql", self._search)
        app.router.add_post("/rest/api/3/issue", self._create)
        app.router.add_post("/rest/api/3/issue/{key}/comment", self._comment)
        app.router.add_get("/rest/api/3/issue/{key}/transitions", self._transitions)
        app.router.add_post("/rest/api/3/issue/{key}/transitions", self._transition)

    def _authorized(self, request: web.Request) -> bool:
        return basic_credentials(request) == self.credentials

    async def _search(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.Response(status=401)
        query = await request.json()
        self.searches.append(query["jql"])
        match = self._JQL.match(query["jql"])
        if match is None:
            return json_reply(400, {"errorMessages": ["Error in the JQL Query"]})
        found = [issue for issue in self.issues.values()
                 if match["label"] in issue.fields["labels"] and issue.status != "Done"]
        limit = int(query.get("maxResults", 50))
        return json_reply(200, {"issues": [{"id": issue.key.split("-")[1], "key": issue.key}
                                           for issue in found[:limit]], "isLast": True})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.Response(status=401)
        fields = (await request.json())["fields"]
        errors = {}
        if fields.get("project", {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if not fields.get("summary") or len(fields["summary"]) > 255:
            errors["summary"] = "You must specify a summary of the issue."
        if not is_adf(fields.get("description")):
            errors["description"] = "Operation value must be an Atlassian Document."
        if errors:
            return json_reply(400, {"errorMessages": [], "errors": errors})
        key = f"{self.project}-{len(self.issues) + 1}"
        self.issues[key] = JiraIssue(key, fields)
        if self.lose_create_replies:
            self.lose_create_replies -= 1
            return web.Response(status=502, text="Bad Gateway")
        return json_reply(201, {"id": str(10000 + len(self.issues)), "key": key,
                                "self": f"{self.url}/rest/api/3/issue/{key}"})

    def _issue(self, request: web.Request) -> JiraIssue | None:
        return self.issues.get(request.match_info["key"])

    async def _comment(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue(request)
        if not self._authorized(request) or issue is None:
            return json_reply(404, {"errorMessages": ["Issue does not exist"]})
        body = (await request.json()).get("body")
        if not is_adf(body):
            return json_reply(400, {"errorMessages": ["Comment body is not ADF"]})
        issue.comments.append(body)
        return json_reply(201, {"id": str(len(issue.comments)), "body": body})

    async def _transitions(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue(request)
        if not self._authorized(request) or issue is None:
            return json_reply(404, {"errorMessages": ["Issue does not exist"]})
        return json_reply(200, {"expand": "transitions", "transitions": list(self.TRANSITIONS)})

    async def _transition(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue(request)
        if not self._authorized(request) or issue is None:
            return json_reply(404, {"errorMessages": ["Issue does not exist"]})
        wanted = (await request.json())["transition"]["id"]
        names = {item["id"]: item["name"] for item in self.TRANSITIONS}
        if wanted not in names:
            return json_reply(400, {"errorMessages": ["Transition id is not valid"]})
        issue.status = names[wanted]
        return web.Response(status=204)


def is_adf(node: Any) -> bool:
    """Check the top of an Atlassian Document Format document and that no text is empty."""
    if not isinstance(node, dict) or node.get("type") != "doc" or node.get("version") != 1:
        return False
    return isinstance(node.get("content"), list) and _has_valid_text(node)


def _has_valid_text(node: Any) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return False
    if node["type"] == "text" and not node.get("text"):
        return False
    return all(_has_valid_text(child) for child in node.get("content", []))


class ServiceNowReceiver(HttpReceiver):
    """ServiceNow's Table API for `incident`: query, create and update records."""

    def __init__(self, user: str, password: str) -> None:
        super().__init__()
        self.credentials = (user, password)
        self.records: dict[str, dict[str, Any]] = {}
        self.queries: list[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/now/table/incident", self._list)
        app.router.add_post("/api/now/table/incident", self._create)
        app.router.add_patch("/api/now/table/incident/{sys_id}", self._update)

    def _authorized(self, request: web.Request) -> bool:
        return basic_credentials(request) == self.credentials

    async def _list(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "User Not Authenticated")
        query = request.query.get("sysparm_query", "")
        self.queries.append(query)
        conditions = dict(term.split("=", 1) for term in query.split("^") if "=" in term)
        found = [record for record in self.records.values()
                 if all(str(record.get(key, "")) == value for key, value in conditions.items())]
        limit = int(request.query.get("sysparm_limit", "10000"))
        wanted = request.query.get("sysparm_fields", "").split(",")
        rows = [{key: record[key] for key in wanted if key in record} for record in found]
        return json_reply(200, {"result": rows[:limit]})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._error(401, "User Not Authenticated")
        fields = await request.json()
        sys_id = hashlib.md5(str(len(self.records)).encode()).hexdigest()
        record = {"sys_id": sys_id, "number": f"INC{len(self.records) + 10001:07d}",
                  "active": "true", "state": "1", "work_notes_list": []} | fields
        self.records[sys_id] = record
        return json_reply(201, {"result": record})

    async def _update(self, request: web.Request) -> web.StreamResponse:
        record = self.records.get(request.match_info["sys_id"])
        if not self._authorized(request):
            return self._error(401, "User Not Authenticated")
        if record is None:
            return self._error(404, "No Record found")
        fields = await request.json()
        if "work_notes" in fields:
            record["work_notes_list"].append(fields.pop("work_notes"))
        record.update(fields)
        if record.get("state") in ("6", "7"):
            record["active"] = "false"
        return json_reply(200, {"result": record})

    @staticmethod
    def _error(status: int, message: str) -> web.Response:
        return json_reply(status, {"error": {"message": message, "detail": ""},
                                   "status": "failure"})


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for localhost and 127.0.0.1, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    message: EmailMessage
    authenticated_as: str | None
    tls: bool


class _MailHandler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self.receiver = receiver

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login if isinstance(session.auth_data, LoginPassword) else None
        self.receiver.mails.append(ReceivedMail(
            str(envelope.mail_from), list(envelope.rcpt_tos), message,
            login.decode() if login is not None else None,
            session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
        ))
        if self.receiver.data_replies:
            return self.receiver.data_replies.popleft()
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd on loopback: `security` is starttls, tls or plain; AUTH with one user."""

    def __init__(self, certificate: tuple[Path, Path], security: str = "starttls",
                 user: str = "alerts", password: str = "",
                 exclude_mechanisms: tuple[str, ...] = ()) -> None:
        self.security = security
        self.exclude_mechanisms = exclude_mechanisms
        self.user = user
        self.password = password
        self.mails: list[ReceivedMail] = []
        self.data_replies: deque[str] = deque()
        """Replies to DATA served before the normal 250, such as "451 try later"."""
        self.auth_mechanisms: list[str] = []
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(*certificate)
        self._server: asyncio.Server | None = None
        self.port = 0

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        self.auth_mechanisms.append(mechanism)
        good = (isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == self.user
                and auth_data.password.decode() == self.password)
        # handled=False makes aiosmtpd send the 535 reply itself.
        return AuthResult(success=good, handled=False, auth_data=auth_data)

    def _protocol(self) -> SMTP:
        starttls = self.security == "starttls"
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without STARTTLS, which implicit TLS makes safe.
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(_MailHandler(self), hostname="localhost",
                        tls_context=self._context if starttls else None,
                        require_starttls=starttls, authenticator=self._authenticate,
                        auth_required=bool(self.password),
                        auth_exclude_mechanism=self.exclude_mechanisms,
                        # aiosmtpd counts only STARTTLS as TLS; implicit TLS is TLS all the same.
                        auth_require_tls=starttls)

    async def start(self) -> SmtpReceiver:
        loop = asyncio.get_running_loop()
        ssl_context = self._context if self.security == "tls" else None
        self._server = await loop.create_server(self._protocol, LOOPBACK, 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
