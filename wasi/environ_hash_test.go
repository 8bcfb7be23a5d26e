package wasi

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEnvironHashedCheck compares the hashed duplicate check with a
// map's, on random lists of short names from a small alphabet (many
// duplicates, many 8-bit hash collisions): same entries, same order, same
// size.
func TestEnvironHashedCheck(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 50000; n++ {
		var vars []string
		for i := 0; i < 1+r.IntN(40); i++ {
			k := make([]byte, 1+r.IntN(3))
			for j := range k {
				k[j] = "ABCDEFGH_"[r.IntN(9)]
			}
			vars = append(vars, string(k)+"="+string(rune('a'+r.IntN(26))))
		}
		env, err := newEnviron(vars)
		if err != nil {
			t.Fatal(err)
		}
		index := map[string]int{}
		var want []string
		for _, kv := range vars {
			k, _ := splitEnv(kv)
			if i, ok := index[k]; ok {
				want[i] = kv
				continue
			}
			index[k] = len(want)
			want = append(want, kv)
		}
		size := 0
		for _, kv := range want {
			size += len(kv) + 1
		}
		if !slices.Equal(env.vars, want) || int(env.size) != size {
			t.Fatalf("%q: got %q (%d bytes); want %q (%d)", vars, env.vars, env.size, want, size)
		}
	}
}
