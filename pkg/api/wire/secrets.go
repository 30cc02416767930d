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
}

// SecretsRotation is POST /v1/secrets/rotate: every sealed value in etcd
// now sealed with SealingKey.
type SecretsRotation struct {
	SealingKey  string         `json:"sealingKey"`
	Resealed    int            `json:"resealed"`
	Records     int            `json:"records"`
	ValuesByKey map[string]int `json:"valuesByKey"`
}
