"""Platform entry points: thin layers that feed platform events to the runtime core.

Pipeline position: the last hop at run time. ``svai build`` packages the runtime core
(``svai.runtime.core``) with one of these; each turns its platform's events into core
``Request`` objects (or ``Service.predict`` calls) and the core's answers back into the
platform's response shape. ``aws_lambda`` serves API Gateway / function URL / SQS / direct
events; ``worker`` is the async queue worker behind SQS with its DynamoDB ``results`` store;
``emulator`` polls SQS the way Lambda's event source mapping does, for local runs and tests.

Nothing is imported here, so importing one entry point never loads another's dependencies
(the Lambda handler loads its model at import time).
"""

__all__: list[str] = []
