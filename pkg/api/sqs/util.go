package sqs

import (
	"math/rand/v2"
	"os"
)

func fillRandom(b []byte) {
	for i := 0; i < len(b); i += 8 {
		v := rand.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

func mkdtemp() (string, error) { return os.MkdirTemp("", "orch-sqs-fuzz-") }
