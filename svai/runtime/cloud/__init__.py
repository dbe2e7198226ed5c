"""Cloud data-plane clients for the runtime: stdlib HTTP only, copied into every artifact.

``gcp`` speaks Firestore and Pub/Sub REST with tokens from the metadata server; ``azure`` speaks
Cosmos DB and Service Bus REST with managed-identity tokens. No cloud SDK is imported: the
runtime stays small and starts fast.
"""
