package transport

import (
	"encoding/binary"
	"testing"
)

// TestPlain8 checks plain8 against jsonPlain on every byte value in every
// lane, among plain neighbours and among others.
func TestPlain8(t *testing.T) {
	fills := []byte{'a', ' ', '~', 0x7f}
	for _, fill := range fills {
		for lane := range 8 {
			for c := range 256 {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[lane] = byte(c)
				want := true
				for _, x := range b {
					want = want && jsonPlain[x]
				}
				if got := plain8(binary.LittleEndian.Uint64(b[:])); got != want {
					t.Fatalf("plain8(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
	// Pairs of bytes in two lanes, all values: the borrow of one lane's
	// test must never make a plain word look otherwise, nor hide a match.
	for c1 := range 256 {
		for c2 := range 256 {
			b := [8]byte{'x', byte(c1), byte(c2), 'x', 'x', 'x', 'x', 'x'}
			want := jsonPlain[c1] && jsonPlain[c2]
			if got := plain8(binary.LittleEndian.Uint64(b[:])); got != want {
				t.Fatalf("plain8(%q) = %v, want %v", b, got, want)
			}
		}
	}
}
