"""`LocalStack`: the SAM app running on moto and in-process Lambda, without Docker or an AWS account.

with LocalStack.start(Path("template.yaml"), jwt_issuer_parameters=["JwtIssuer"]) as stack:
    stack.serve_http()
    stack.start_background()
    token = stack.issue_token("alice", claims={"custom:role": "viewer"})
    ...
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from riskradar.local.faults import FaultInjector, FaultPlan
from riskradar.local.http_api import HttpApi, HttpRequest, Route, request_target, response_as_dict
from riskradar.local.http_server import HttpApiServer
from riskradar.local.identity import LocalIdentityProvider, local_issuer_url
from riskradar.local.jwt_authorizer import JwtAuthorizers, RouteAuthorization
from riskradar.local.logs import logger
from riskradar.local.moto_server import (
    MotoServer,
    ensure_fake_aws_environment,
    fake_session,
    quiet_library_logs,
)
from riskradar.local.runtime import FunctionConfiguration, LocalFunction, function_environment
from riskradar.local.sam import ACCOUNT_ID, EVENT_SOURCE_MAPPING, DeployedStack, StackNameInUseError, deploy
from riskradar.local.schedules import Schedule, Scheduler, read_scheduled_targets
from riskradar.local.sqs import SqsPoller, read_event_sources
from riskradar.local.template import HttpApiEvent, JwtAuthorizer, SamTemplate, SamTemplateError


class LocalStack:
    """A deployed copy of a SAM template on a private moto server, with its functions in-process.

    Build one with `LocalStack.start(...)`. moto's state is process-global: stacks started in
    the same process must use different stack names and resource names (e.g. another Stage).
    """

    _active: ClassVar[list[LocalStack]] = []
    _added_environment: ClassVar[list[str]] = []
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        *,
        template: SamTemplate,
        server: MotoServer,
        session: Any,
        region: str,
        deployed: DeployedStack,
        functions: Mapping[str, LocalFunction],
        retry_delay_s: int,
        batching_window_scale: float,
        identity_provider: LocalIdentityProvider,
        jwt_authorizers: Mapping[tuple[str, str], JwtAuthorizer],
    ) -> None:
        self.template = template
        #: The issuer of the tokens that the template's JWT authorizers accept locally.
        self.identity_provider = identity_provider
        self._jwt_authorizers = dict(jwt_authorizers)
        self.endpoint_url = server.endpoint_url
        self.session = session
        self.region = region
        self.stack_name = deployed.name
        self._server = server
        self._deployed = deployed
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._functions = dict(functions)
        by_name = {function.name: function for function in self._functions.values()}
        # The HTTP API comes from the template's HttpApi events (moto cannot create the API);
        # event sources and schedules from what moto deployed.
        routes = [
            Route.from_event(event, self._route_authorization(event))
            for source in template.functions().values()
            if source.logical_id in self._functions
            for event in source.http_events
        ]
        self._http_api = HttpApi(
            routes,
            self._functions,
            account_id=ACCOUNT_ID,
            authorizers=JwtAuthorizers({identity_provider.issuer: identity_provider.jwks}),
        )
        self._http_server: HttpApiServer | None = None
        mapping_ids = [
            mapping.physical_id
            for mapping in deployed.of_type(EVENT_SOURCE_MAPPING)
            if mapping.logical_id in deployed.enabled_event_source_mappings
        ]
        sources = read_event_sources(
            self.client("lambda"), self.client("sqs"), mapping_uuids=mapping_ids, functions_by_name=by_name
        )
        self._poller = SqsPoller(
            self.client("sqs"),
            sources,
            region=region,
            retry_delay_s=retry_delay_s,
            batching_window_scale=batching_window_scale,
        )
        rule_names = [rule.physical_id for rule in deployed.of_type("AWS::Events::Rule")]
        targets = read_scheduled_targets(
            self.client("events"), rule_names=rule_names, functions_by_name=by_name
        )
        self._scheduler = Scheduler(targets, account_id=ACCOUNT_ID, region=region)
        self._background: threading.Thread | None = None
        self._background_stop = threading.Event()
        self._stopped = False
        self._faults: FaultInjector | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls,
        template_path: Path,
        *,
        parameters: dict[str, str] | None = None,
        stack_name: str = "riskradar-local",
        ssm_secure_parameters: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        retry_delay_s: int = 0,
        batching_window_scale: float = 0.0,
        jwt_issuer_parameters: Sequence[str] = (),
        faults: FaultPlan | None = None,
    ) -> LocalStack:
        """Start moto, deploy the template into it and import every function.

        `parameters` override the template's Parameter defaults. The stack is the issuer of the
        tokens its HTTP APIs' JWT authorizers accept (`identity_provider`, `issue_token`): each
        template parameter named in `jwt_issuer_parameters` is set to its issuer URL, and every
        JWT authorizer of a served route must trust that issuer. `ssm_secure_parameters` are
        created as SecureString parameters before any handler is imported, since handlers may
        read them at cold start. `extra_env` is added to every function's environment.
        `retry_delay_s` is how long a failed SQS message stays invisible before its retry;
        `batching_window_scale` scales each mapping's MaximumBatchingWindowInSeconds (0: do not
        wait for more messages once the queue is empty). `faults` is a plan of failures to inject
        around the functions (see riskradar.local.faults; `inject_faults` changes it later).
        """
        started = time.monotonic()
        template = SamTemplate.load(template_path)
        identity_provider = LocalIdentityProvider.generate(local_issuer_url(stack_name))
        parameters = _with_local_issuer(parameters or {}, jwt_issuer_parameters, identity_provider.issuer)
        parameter_values = template.parameter_values(parameters)
        # Before anything starts: a route the stack cannot guard as AWS would fails the start.
        jwt_authorizers = _route_jwt_authorizers(template, parameters, identity_provider.issuer)
        quiet_library_logs()
        cls._register_environment()
        region = os.environ["AWS_DEFAULT_REGION"]
        server = MotoServer()
        try:
            stack = cls._deploy(
                template,
                server,
                region=region,
                parameter_values=parameter_values,
                stack_name=stack_name,
                ssm_secure_parameters=ssm_secure_parameters or {},
                extra_env=extra_env or {},
                retry_delay_s=retry_delay_s,
                batching_window_scale=batching_window_scale,
                identity_provider=identity_provider,
                jwt_authorizers=jwt_authorizers,
            )
        except StackNameInUseError:
            cls._release(server, stack=None, stack_name=None, region=region)  # not ours to delete
            raise
        except BaseException:
            cls._release(server, stack=None, stack_name=stack_name, region=region)
            raise
        if faults is not None:
            stack.inject_faults(faults)
        logger.info(
            "local stack %s up in %.1f s on %s: %d functions, %d routes, %d SQS sources, %d schedules",
            stack_name,
            time.monotonic() - started,
            server.endpoint_url,
            len(stack._functions),
            len(stack._http_api.routes),
            len(stack._poller.sources),
            len(stack._scheduler.schedules()),
        )
        return stack

    @classmethod
    def _deploy(
        cls,
        template: SamTemplate,
        server: MotoServer,
        *,
        region: str,
        parameter_values: Mapping[str, str],
        stack_name: str,
        ssm_secure_parameters: Mapping[str, str],
        extra_env: Mapping[str, str],
        retry_delay_s: int,
        batching_window_scale: float,
        identity_provider: LocalIdentityProvider,
        jwt_authorizers: Mapping[tuple[str, str], JwtAuthorizer],
    ) -> LocalStack:
        session = fake_session(region)
        endpoint = server.endpoint_url
        ssm = session.client("ssm", endpoint_url=endpoint)
        for name, value in ssm_secure_parameters.items():
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        # One attempt: moto creates resources inside CreateStack, so a retry would only report
        # that the half-created stack already exists, hiding the real error.
        cloudformation = session.client(
            "cloudformation", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1})
        )
        deployed = deploy(
            template,
            parameter_values,
            stack_name=stack_name,
            region=region,
            cloudformation=cloudformation,
            s3=session.client("s3", endpoint_url=endpoint),
        )
        functions = _load_functions(
            template,
            deployed,
            session.client("lambda", endpoint_url=endpoint),
            region=region,
            endpoint_url=endpoint,
            extra_env=extra_env,
        )
        stack = cls(
            template=template,
            server=server,
            session=session,
            region=region,
            deployed=deployed,
            functions=functions,
            retry_delay_s=retry_delay_s,
            batching_window_scale=batching_window_scale,
            identity_provider=identity_provider,
            jwt_authorizers=jwt_authorizers,
        )
        with cls._registry_lock:
            cls._active.append(stack)
        return stack

    def stop(self) -> None:
        """Stop background work and the servers; forget this stack's state in moto."""
        if self._stopped:
            return
        self._stopped = True
        self.stop_background()
        if self._http_server is not None:
            self._http_server.stop()
            self._http_server = None
        self._release(self._server, stack=self, stack_name=self.stack_name, region=self.region)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @classmethod
    def _register_environment(cls) -> None:
        with cls._registry_lock:
            cls._added_environment.extend(ensure_fake_aws_environment())

    @classmethod
    def _release(
        cls, server: MotoServer, *, stack: LocalStack | None, stack_name: str | None, region: str
    ) -> None:
        """Wipe moto when no other stack is running (its state is shared by the whole process);
        otherwise delete just this stack (also a half-created one). Then stop the server."""
        with cls._registry_lock:
            if stack in cls._active:
                cls._active.remove(stack)
            others_running = bool(cls._active)
            if not others_running:
                for name in cls._added_environment:
                    os.environ.pop(name, None)
                cls._added_environment.clear()
        try:
            if others_running and stack_name is not None:
                cloudformation = fake_session(region).client(
                    "cloudformation", endpoint_url=server.endpoint_url
                )
                cloudformation.delete_stack(StackName=stack_name)
            elif not others_running:
                server.reset()
        except (ClientError, BotoCoreError, OSError) as error:
            logger.warning("could not clean up moto state: %s", error)
        finally:
            server.stop()

    # ------------------------------------------------------------------ resources and functions

    def client(self, service: str) -> Any:
        """A boto3 client for `service` on this stack's moto endpoint (cached, thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service, endpoint_url=self.endpoint_url)
            return self._clients[service]

    def physical_id(self, logical_id: str) -> str:
        """The deployed name of a template resource; for a queue, its URL."""
        return self._deployed.physical_id(logical_id)

    def function(self, logical_id: str) -> LocalFunction:
        if logical_id not in self._functions:
            raise KeyError(f"no local function {logical_id}; functions: {', '.join(sorted(self._functions))}")
        return self._functions[logical_id]

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function directly, as `aws lambda invoke` would (handler errors propagate)."""
        return self.function(logical_id).invoke(event)

    # ------------------------------------------------------------------ HTTP API

    def serve_http(self, port: int = 0) -> str:
        """Serve the HTTP API on 127.0.0.1 (a free port by default); return its base URL."""
        if self._http_server is None:
            self._http_server = HttpApiServer(self._http_api, port)
            logger.info("HTTP API at %s", self._http_server.url)
        elif port and not self._http_server.url.endswith(f":{port}"):
            raise RuntimeError(f"the HTTP API is already served at {self._http_server.url}")
        return self._http_server.url

    @property
    def api_url(self) -> str:
        if self._http_server is None:
            raise RuntimeError("the HTTP API is not being served; call serve_http() first")
        return self._http_server.url

    def invoke_http(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str | Sequence[str]] | None = None,
    ) -> dict[str, Any]:
        """One request through the HTTP API without a socket.

        Returns the response as {statusCode, headers, cookies, body, isBase64Encoded}; the body
        is text when it is valid UTF-8, otherwise base64.
        """
        raw_body = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        request_headers = [("host", "localhost"), *(headers or {}).items()]
        if raw_body:
            request_headers.append(("content-length", str(len(raw_body))))
        request = HttpRequest(method, request_target(path, query), request_headers, raw_body)
        return response_as_dict(self._http_api.handle(request))

    # ------------------------------------------------------------------ tokens for JWT authorizers

    @property
    def jwt_authorizers(self) -> list[JwtAuthorizer]:
        """The JWT authorizers that guard the served routes (all trust `identity_provider`)."""
        return list(self._jwt_authorizers.values())

    @property
    def jwt_audiences(self) -> list[str]:
        """Every audience the served routes' JWT authorizers accept, each once."""
        return list(dict.fromkeys(audience for a in self.jwt_authorizers for audience in a.audience))

    def issue_token(
        self,
        subject: str,
        *,
        claims: Mapping[str, Any] | None = None,
        scopes: Sequence[str] = (),
        expires_in: int = 3600,
        audience: str | Sequence[str] | None = None,
    ) -> str:
        """A token from the stack's identity provider that its JWT authorizers accept.

        `audience` defaults to the first audience of the authorizers (they must agree on it);
        `claims` are added to the token and may override `iss`, `aud`, `exp`, `nbf`, `iat`.
        """
        if audience is None:
            firsts = sorted({authorizer.audience[0] for authorizer in self.jwt_authorizers})
            if len(firsts) != 1:
                raise ValueError(
                    f"pass audience=: the JWT authorizers' first audiences are {firsts or 'none'}"
                )
            audience = firsts[0]
        return self.identity_provider.issue_token(
            subject, audience=audience, claims=claims, scopes=scopes, expires_in=expires_in
        )

    def write_issuer_file(self, path: Path) -> Path:
        """Hand the identity provider to other processes of this user (`riskradar token`)."""
        api_url = self._http_server.url if self._http_server is not None else None
        return self.identity_provider.write_issuer_file(path, audiences=self.jwt_audiences, api_url=api_url)

    def _route_authorization(self, event: HttpApiEvent) -> RouteAuthorization | None:
        if event.authorizer is None:
            return None
        authorizer = self._jwt_authorizers[(event.api_logical_id, event.authorizer)]
        return RouteAuthorization(authorizer, event.authorization_scopes)

    # ------------------------------------------------------------------ SQS event sources

    def poll_once(self) -> int:
        """Deliver at most one batch per SQS event source; return the messages handed to handlers."""
        return self._poller.poll_once()

    def run_until_idle(self, timeout_s: float = 60) -> None:
        """Poll until every queue with an event source is empty; TimeoutError if it does not drain."""
        self._poller.run_until_idle(timeout_s)

    def queue_depth(self, logical_id: str) -> int:
        """Messages in a queue of the stack: visible plus in flight."""
        return self._poller.queue_depth(self.physical_id(logical_id))

    # ------------------------------------------------------------------ faults

    def inject_faults(self, plan: FaultPlan | None) -> FaultInjector | None:
        """Apply `plan` from now on (None: no faults); return its injector, whose ledger counts
        what was injected and whose `enabled` switches it off and on."""
        injector = None
        if plan is not None:
            injector = FaultInjector(plan)
            injector.poison_queues(
                frozenset(self.physical_id(queue).rsplit("/", 1)[-1] for queue in plan.poisoned_queues)
            )
        for function in self._functions.values():
            function.faults = injector
        self._poller.faults = injector
        self._faults = injector
        return injector

    @property
    def faults(self) -> FaultInjector | None:
        """The injector of the fault plan in force, if any."""
        return self._faults

    # ------------------------------------------------------------------ schedules

    def schedules(self) -> list[Schedule]:
        """(rule name, schedule expression, target function logical id) for each schedule."""
        return self._scheduler.schedules()

    def fire_schedule(self, function_logical_id: str, *, rule_name: str | None = None) -> Any:
        """Invoke a scheduled function now with the event its schedule sends; return its result."""
        return self._scheduler.fire(function_logical_id, rule_name=rule_name)

    def tick_schedules(self, speedup: float) -> list[str]:
        """Fire the rate() schedules that are due with time running `speedup` times faster."""
        return self._scheduler.tick(speedup)

    # ------------------------------------------------------------------ background

    def start_background(self, *, schedule_speedup: float = 0.0, poll_interval_s: float = 0.05) -> None:
        """Poll the SQS event sources (and tick schedules when `schedule_speedup` > 0) in a
        daemon thread, as the Lambda service would, until `stop_background()`."""
        if self._background is not None:
            raise RuntimeError("background polling is already running")
        self._background_stop.clear()
        self._background = threading.Thread(
            target=self._run_background,
            args=(schedule_speedup, poll_interval_s),
            name=f"riskradar-local-{self.stack_name}",
            daemon=True,
        )
        self._background.start()

    def stop_background(self) -> None:
        if self._background is None:
            return
        self._background_stop.set()
        self._background.join(timeout=30)
        if self._background.is_alive():
            logger.warning("background polling did not stop within 30 s (a handler is still running)")
        self._background = None

    def _run_background(self, schedule_speedup: float, poll_interval_s: float) -> None:
        while not self._background_stop.is_set():
            delivered = 0
            try:
                if schedule_speedup > 0:
                    self._scheduler.tick(schedule_speedup)
                delivered = self._poller.poll_once()
            except Exception:
                logger.exception("background polling failed; it goes on")
            if not delivered:
                self._background_stop.wait(poll_interval_s)


def _with_local_issuer(
    parameters: Mapping[str, str], issuer_parameters: Sequence[str], issuer: str
) -> dict[str, str]:
    both = sorted(set(parameters) & set(issuer_parameters))
    if both:
        raise ValueError(f"{', '.join(both)}: given a value and named as the local issuer's parameter")
    return {**parameters, **dict.fromkeys(issuer_parameters, issuer)}


def _route_jwt_authorizers(
    template: SamTemplate, parameters: Mapping[str, str], local_issuer: str
) -> dict[tuple[str, str], JwtAuthorizer]:
    """The JWT authorizers the template's routes use; each must trust the local issuer."""
    used = sorted(
        {
            (event.api_logical_id, event.authorizer)
            for function in template.functions().values()
            for event in function.http_events
            if event.authorizer is not None
        }
    )
    authorizers: dict[tuple[str, str], JwtAuthorizer] = {}
    for api_logical_id, name in used:
        authorizer = template.jwt_authorizer(api_logical_id, name, parameters)
        if authorizer.issuer != local_issuer:
            raise SamTemplateError(
                f"{api_logical_id}'s JWT authorizer {name} trusts the issuer {authorizer.issuer}, but "
                f"locally tokens come from the local stack's own issuer ({local_issuer}) and no other "
                "issuer's keys can be fetched: name the template parameter that holds the issuer in "
                "LocalStack.start(jwt_issuer_parameters=[...])"
            )
        authorizers[(api_logical_id, name)] = authorizer
    if authorizers:
        logger.info(
            "JWT authorizers %s trust the local issuer %s", ", ".join(n for _, n in used), local_issuer
        )
    return authorizers


def _load_functions(
    template: SamTemplate,
    deployed: DeployedStack,
    lambda_client: Any,
    *,
    region: str,
    endpoint_url: str,
    extra_env: Mapping[str, str],
) -> dict[str, LocalFunction]:
    """Import every function whose code is on this machine, configured as moto deployed it."""
    functions: dict[str, LocalFunction] = {}
    for logical_id, source in template.functions().items():
        if source.code_dir is None:
            logger.warning("%s has no local code (CodeUri is remote); it cannot run locally", logical_id)
            continue
        deployed_config = lambda_client.get_function_configuration(
            FunctionName=deployed.physical_id(logical_id)
        )
        layer_dirs = [d for layer in source.layer_logical_ids if (d := template.layer_dir(layer)) is not None]
        configuration = FunctionConfiguration(
            logical_id=logical_id,
            name=str(deployed_config["FunctionName"]),
            arn=str(deployed_config["FunctionArn"]),
            handler=source.image_handler or str(deployed_config["Handler"]),
            runtime=str(deployed_config.get("Runtime", "python3")),
            memory_mb=int(deployed_config.get("MemorySize", 128)),
            timeout_s=int(deployed_config.get("Timeout", 3)),
            search_path=(source.code_dir, *layer_dirs),
            environment=function_environment(
                deployed_config, region=region, endpoint_url=endpoint_url, extra_env=extra_env
            ),
        )
        functions[logical_id] = LocalFunction(configuration)
    return functions
