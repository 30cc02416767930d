// Package store is Orch's only door to etcd: typed access to task
// definitions, tasks, nodes, services, queues and credentials, optimistic
// writes conditional on the mod revision read, batched transactions,
// watches, leases, elections and the embedded etcd server.
//
// # Key schema
//
// Every key lives under a prefix (default "/orch/"); this is the complete
// list:
//
//	taskdefs/<family>/<revision:010d>   model.TaskDefinition (immutable but for status and tags; INACTIVE ones may be deleted)
//	tasks/<taskId>                      model.Task
//	nodes/<name>                        model.Node (user attributes and tags survive re-registration)
//	services/<name>                     model.Service (spec, deployments, events)
//	deletedservices/<name>              a deleted service's tombstone (model.Service, status INACTIVE) bound to a lease of an hour
//	scaling/targets/<service>           model.ScalableTarget (bounds, last actions, activity history)
//	scaling/policies/<service>/<name>   model.ScalingPolicy
//	alive/<name>                        "" bound to the node's lease (liveness)
//	queues/<name>                       a queue's definition (attributes, tags, id)
//	qmsgs/<queueId>/<messageId>         one message, created and deleted, never rewritten (etcd store only: a single server keeps messages in pkg/queue/qlog logs)
//	qdedup/<queueId>/<key>              FIFO deduplication record, deleted after 5 minutes (etcd store only, likewise)
//	qbacklog/<name>                     a queue's backlog (store.QueueBacklog), published by the queue owner for the autoscaler, bound to its election lease
//	topics/<name>                       a topic's definition (attributes, tags, id)
//	topicsubs/<subscriptionId>          one subscription (topic, protocol, endpoint, attributes, confirmation)
//	tmsgs/<topicId>/<messageId>         a published message and its pending deliveries, deleted once all ended
//	functions/<name>                    model.StoredFunction (the CreateFunction configuration, ARN, revision id)
//	esm/<uuid>                          model.StoredMapping: an event source mapping (queue -> function)
//	fnasync/<function>/<requestId>      model.AsyncInvocation: an Event invocation, stored before 202, deleted once it succeeded or went to the dead-letter queue
//	auth/tokens/<sha256 hex>            auth.Role ("admin", "agent" = auth.RoleJoin, "node") and name; tokens are stored hashed
//	auth/nodetokens/<node>              hash of the node's current node token
//	auth/nodenonces/<nonce>             a single-use registration nonce (POST /v1/agent/nonce) bound to a one-minute lease
//	auth/awskeys/<accessKeyId>          AWS-style access key (SigV4 needs the secret: sealed, see Secrets); admin keys AKIA..., tasks' ASIA...
//	auth/adminkeys-rev                  written with every admin key change, which is conditional on it (see awskeys.go)
//	auth/tokens-rev                     written with every token revocation, which is conditional on it (the last admin token stays)
//	auth/snssigning                     store.SigningKeys: the current RSA key and certificate SNS messages are signed with, and retired certificates still served (private keys sealed)
//	auth/ca                             store.ClusterCAKeys: the cluster CA certificate and its key (sealed)
//	auth/replicakey                     the key servers prove forwarded calls' client addresses with (sealed)
//	secretskeys/<server id, base64url>  store.SecretsKeyHolder: the ids (never the keys) of one live server's secrets key ring, bound to its lease
//	election/controller/<leaseId>       concurrency.Election for the controller leader (value: its id)
//	election/queues-<NN>/<leaseId>      the replica that owns queue shard NN (value: its URL); all of a replica's share one lease (shards.go)
//	members/queues/<url>                a live server replica (value: its URL), bound to that same lease
//	qinbox/<NN>/<queueId>/<id>          store.InboxMessage: a message on its way into a queue of shard NN, moved in by its owner
//	meta/bootstrap-claim                the cluster id, claimed by the first server to start (Bootstrap)
//	meta/cluster                        the cluster id, written once the first credentials exist
//	meta/policy                         model.ClusterPolicy (absent: model.DefaultClusterPolicy)
//	meta/cluster-tags                   the cluster's tags (ECS TagResource on the cluster ARN)
//	audit/<unixnano:019d>-<hex>         model.AuditEntry: one write (who, what, when, outcome), pruned by count and age (store.AuditLog)
//	idempotency/<kind>/<sha256 hex>     a clientToken's record (store.ClientRequest) bound to a lease of its window; kind runtask or service
//
// Writes that depend on what was read compare the key's mod revision
// (UpdateTask, CommitTasks); a failed comparison returns model.ErrConflict
// or is retried after re-reading.
//
// Example:
//
//	st, _ := store.Open(ctx, store.Config{DataDir: "/var/lib/orch"})
//	defer st.Close()
//	td, created, _ := st.RegisterTaskDefinition(ctx, def)
package store
