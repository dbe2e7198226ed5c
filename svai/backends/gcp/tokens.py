"""Pulumi type tokens of the pulumi-gcp resources svai creates (checked against pulumi-gcp 10.2.0).

Lowering, the component and the rules all name resources by these tokens, so a recorded resource
and the spec that produced it match by string.
"""

from __future__ import annotations

__all__ = [
    "ALERT_POLICY",
    "API",
    "API_CONFIG",
    "BUCKET",
    "BUCKET_IAM",
    "BUCKET_OBJECT",
    "BUDGET",
    "CRYPTO_KEY",
    "CRYPTO_KEY_IAM",
    "DNS_RECORD",
    "DNS_ZONE",
    "ENABLED_SERVICE",
    "FIRESTORE_DB",
    "FIRESTORE_FIELD",
    "FIREWALL",
    "FUNCTION",
    "GATEWAY",
    "IAM_TOKENS",
    "KEY_RING",
    "LOG_METRIC",
    "NETWORK",
    "NOTIFICATION_CHANNEL",
    "PROJECT_IAM",
    "REGISTRY",
    "RUN_IAM",
    "RUN_JOB",
    "RUN_JOB_IAM",
    "RUN_SERVICE",
    "SCHEDULER_JOB",
    "SECRET_IAM",
    "SERVICE_ACCOUNT",
    "SERVICE_ACCOUNT_IAM",
    "SERVICE_IDENTITY",
    "SUBNETWORK",
    "SUBSCRIPTION",
    "SUBSCRIPTION_IAM",
    "TOPIC",
    "TOPIC_IAM",
    "VERTEX_ENDPOINT",
    "VERTEX_ENDPOINT_IAM",
]

RUN_SERVICE = "gcp:cloudrunv2/service:Service"
NETWORK = "gcp:compute/network:Network"
SUBNETWORK = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
DNS_ZONE = "gcp:dns/managedZone:ManagedZone"
DNS_RECORD = "gcp:dns/recordSet:RecordSet"
RUN_IAM = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
VERTEX_ENDPOINT = "gcp:vertex/aiEndpoint:AiEndpoint"
VERTEX_ENDPOINT_IAM = "gcp:vertex/aiEndpointIamMember:AiEndpointIamMember"
REGISTRY = "gcp:artifactregistry/repository:Repository"
BUCKET = "gcp:storage/bucket:Bucket"
BUCKET_OBJECT = "gcp:storage/bucketObject:BucketObject"
BUCKET_IAM = "gcp:storage/bucketIAMMember:BucketIAMMember"
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"
SERVICE_ACCOUNT_IAM = "gcp:serviceaccount/iAMMember:IAMMember"
PROJECT_IAM = "gcp:projects/iAMMember:IAMMember"
SERVICE_IDENTITY = "gcp:projects/serviceIdentity:ServiceIdentity"
ENABLED_SERVICE = "gcp:projects/service:Service"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
CRYPTO_KEY_IAM = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
TOPIC = "gcp:pubsub/topic:Topic"
TOPIC_IAM = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
SUBSCRIPTION_IAM = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
FIRESTORE_DB = "gcp:firestore/database:Database"
FIRESTORE_FIELD = "gcp:firestore/field:Field"
ALERT_POLICY = "gcp:monitoring/alertPolicy:AlertPolicy"
LOG_METRIC = "gcp:logging/metric:Metric"
NOTIFICATION_CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
BUDGET = "gcp:billing/budget:Budget"
API = "gcp:apigateway/api:Api"
API_CONFIG = "gcp:apigateway/apiConfig:ApiConfig"
GATEWAY = "gcp:apigateway/gateway:Gateway"
RUN_JOB = "gcp:cloudrunv2/job:Job"
RUN_JOB_IAM = "gcp:cloudrunv2/jobIamMember:JobIamMember"
SCHEDULER_JOB = "gcp:cloudscheduler/job:Job"

IAM_TOKENS = frozenset(
    {
        RUN_IAM,
        VERTEX_ENDPOINT_IAM,
        BUCKET_IAM,
        SERVICE_ACCOUNT_IAM,
        PROJECT_IAM,
        SECRET_IAM,
        CRYPTO_KEY_IAM,
        TOPIC_IAM,
        SUBSCRIPTION_IAM,
        RUN_JOB_IAM,
    }
)
"""Every IAM-member token svai emits (the rules scan them for primitive and public grants)."""
