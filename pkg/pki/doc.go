// Package pki is the cluster's small public-key infrastructure: a cluster
// CA created on a server's first start, the servers' serving certificates
// it issues, and the CA pin a join token carries so an agent given only
// the token trusts the servers without copying files (as Docker Swarm's
// SWMTKN and kubeadm's discovery-token-ca-cert-hash do), and the nodes'
// log-callback certificates with the mutual-TLS configurations of both
// ends (node.go). It also seals the
// secrets a server must keep in clear (AES-GCM, see Sealer). Standard
// library only.
//
// Example:
//
//	ca, _ := pki.NewCA("orch cluster")
//	cert, _ := ca.IssueServer([]string{"localhost", "127.0.0.1"}, 0)
//	tok := pki.JoinTokenPrefix(ca.Pin()) + "secret"
//	pin, _ := pki.PinFromJoinToken(tok) // == ca.Pin()
package pki
