"""The embedded local AWS stack: template.yaml deployed into moto, functions run in-process.

No Docker and no AWS account: `LocalStack.start(Path("template.yaml"))` starts a moto server,
translates and deploys the SAM template into it, and serves the HTTP API (with its JWT
authorizers, the stack being the tokens' issuer), SQS event sources and schedules the template
declares.
"""

from riskradar.local.identity import LocalIdentityProvider
from riskradar.local.runtime import FunctionInitError, LambdaMarshalError, LocalFunction
from riskradar.local.sam import StackDeploymentError, StackNameInUseError
from riskradar.local.schedules import Schedule
from riskradar.local.stack import LocalStack
from riskradar.local.template import JwtAuthorizer, SamTemplateError

__all__ = [
    "FunctionInitError",
    "JwtAuthorizer",
    "LambdaMarshalError",
    "LocalFunction",
    "LocalIdentityProvider",
    "LocalStack",
    "SamTemplateError",
    "Schedule",
    "StackDeploymentError",
    "StackNameInUseError",
]
