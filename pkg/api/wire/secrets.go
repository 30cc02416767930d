package wire

import "time"

// SecretsServer is one live server's secrets key ring: key ids only (a
// hash prefix of each key), never keys.
type SecretsServer struct {
	Server  string    `json:"server"`
	Keys    []string  `json:"keys"`
	Sealing string    `json:"sealing"`
	Updated time.Time `json:"updated"`
}

// SecretsStatus is GET /v1/secrets: the key ring of the server that
// answered, every live server's, and how many sealed values in etcd each
// key sealed (a key with none can leave every server's key file).
type SecretsStatus struct {
	Server      string          `json:"server"`
	Keys        []string        `json:"keys"`
	SealingKey  string          `json:"sealingKey"`
	Servers     []SecretsServer `json:"servers"`
	ValuesByKey map[string]int  `json:"valuesByKey"`
	// UnderOldKeys counts the sealed values under a key other than
	// SealingKey, InClear the secrets stored in clear (written before
	// sealing was on): orch secrets rotate leaves both at 0.
	UnderOldKeys int `json:"underOldKeys"`
	InClear      int `json:"inClear"`
}

// SecretsRotation is POST /v1/secrets/rotate: every sealed value in etcd
// now sealed with SealingKey.
type SecretsRotation struct {
	SealingKey  string         `json:"sealingKey"`
	Resealed    int            `json:"resealed"`
	Records     int            `json:"records"`
	ValuesByKey map[string]int `json:"valuesByKey"`
	// Sealed counts the secrets found in clear and sealed (part of
	// Resealed); InClear those still in clear after the pass.
	Sealed  int `json:"sealed"`
	InClear int `json:"inClear"`
}
