package scheduler

import (
	"math/rand"
	"slices"
	"testing"
)

func TestRadixSort(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var scratch []uint64
	for _, n := range []int{0, 1, 5, 63, 64, 65, 1000, 5000} {
		for _, mask := range []uint64{0xff, 0xffff_0000_3fff, ^uint64(0)} {
			xs := make([]uint64, n)
			for i := range xs {
				xs[i] = rng.Uint64()&mask | 0x7fff_0000_0000_0000&^mask
			}
			want := slices.Clone(xs)
			slices.Sort(want)
			radixSort(xs, &scratch)
			if !slices.Equal(xs, want) {
				t.Fatalf("n=%d mask=%x: not sorted", n, mask)
			}
		}
	}
}
