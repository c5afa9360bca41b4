package evidence

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

func h(parts ...[]byte) []byte {
	s := sha256.New()
	for _, p := range parts {
		s.Write(p)
	}
	return s.Sum(nil)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Small trees written out by hand.
func TestMerkleRootSmallVectors(t *testing.T) {
	d := [][]byte{h([]byte("a")), h([]byte("b")), h([]byte("c")), h([]byte("d"))}
	l := make([][]byte, 4)
	for i := range d {
		l[i] = h([]byte{0}, d[i])
	}
	n := func(a, b []byte) []byte { return h([]byte{1}, a, b) }
	want := map[int][]byte{
		1: l[0],
		2: n(l[0], l[1]),
		3: n(n(l[0], l[1]), l[2]),
		4: n(n(l[0], l[1]), n(l[2], l[3])),
	}
	for size := 1; size <= 4; size++ {
		if got := MerkleRoot(d[:size]); !bytes.Equal(got, want[size]) {
			t.Errorf("size %d: got %x, want %x", size, got, want[size])
		}
	}
	if got := MerkleRoot(nil); hex.EncodeToString(got) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty root %x", got)
	}
}

// The certificate-transparency reference vectors (RFC 6962 test data: the
// same leaves and roots are used by the C++, Go and other CT
// implementations).
var ctLeaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}

var ctRoots = []string{
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func TestMerkleRootCTVectors(t *testing.T) {
	var leaves [][]byte
	for _, l := range ctLeaves {
		leaves = append(leaves, unhex(t, l))
	}
	for size := 1; size <= len(leaves); size++ {
		if got := hex.EncodeToString(MerkleRoot(leaves[:size])); got != ctRoots[size-1] {
			t.Errorf("size %d: got %s, want %s", size, got, ctRoots[size-1])
		}
	}

	// Published audit paths for the 8-leaf tree.
	for _, c := range []struct {
		index int
		path  []string
	}{
		{0, []string{"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
		{5, []string{"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
	} {
		proof, err := InclusionProof(leaves, c.index)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range proof {
			got = append(got, hex.EncodeToString(p))
		}
		if fmt.Sprint(got) != fmt.Sprint(c.path) {
			t.Errorf("leaf %d: path %v, want %v", c.index, got, c.path)
		}
	}
}

// mth is RFC 6962's recursive definition, written independently of the
// bottom-up MerkleRoot.
func mth(d [][]byte) []byte {
	switch len(d) {
	case 0:
		return h()
	case 1:
		return h([]byte{0}, d[0])
	}
	k := 1
	for k*2 < len(d) {
		k *= 2
	}
	return h([]byte{1}, mth(d[:k]), mth(d[k:]))
}

func TestMerkleRootMatchesRecursiveDefinition(t *testing.T) {
	var d [][]byte
	for i := range 70 {
		d = append(d, h([]byte{byte(i)}))
	}
	for size := 0; size <= len(d); size++ {
		if got, want := MerkleRoot(d[:size]), mth(d[:size]); !bytes.Equal(got, want) {
			t.Fatalf("size %d: got %x, want %x", size, got, want)
		}
	}
}

func TestMerkleRootChangesWithAnyLeaf(t *testing.T) {
	var d [][]byte
	for i := range 7 {
		d = append(d, h([]byte{byte(i)}))
	}
	root := MerkleRoot(d)
	for i := range d {
		changed := append([][]byte(nil), d...)
		changed[i] = h([]byte("other"))
		if bytes.Equal(MerkleRoot(changed), root) {
			t.Errorf("changing leaf %d keeps the root", i)
		}
	}
	// Order matters, and so does the count (no duplication of odd leaves).
	swapped := append([][]byte(nil), d...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	if bytes.Equal(MerkleRoot(swapped), root) {
		t.Error("swapping leaves keeps the root")
	}
	if bytes.Equal(MerkleRoot(append(d, d[6])), root) {
		t.Error("duplicating the last leaf keeps the root")
	}
}

func TestInclusionProofs(t *testing.T) {
	var d [][]byte
	for i := range 20 {
		d = append(d, h([]byte{byte(i)}))
	}
	for size := 1; size <= len(d); size++ {
		root := MerkleRoot(d[:size])
		for i := range size {
			proof, err := InclusionProof(d[:size], i)
			if err != nil {
				t.Fatal(err)
			}
			if !VerifyInclusion(d[i], i, size, proof, root) {
				t.Fatalf("size %d leaf %d: valid proof rejected", size, i)
			}
			if VerifyInclusion(h([]byte("x")), i, size, proof, root) {
				t.Fatalf("size %d leaf %d: wrong leaf accepted", size, i)
			}
			if size > 1 && VerifyInclusion(d[i], (i+1)%size, size, proof, root) {
				t.Fatalf("size %d leaf %d: wrong index accepted", size, i)
			}
			if len(proof) > 0 {
				bad := append([][]byte(nil), proof...)
				bad[0] = h([]byte("y"))
				if VerifyInclusion(d[i], i, size, bad, root) {
					t.Fatalf("size %d leaf %d: tampered proof accepted", size, i)
				}
			}
		}
	}
	if _, err := InclusionProof(d, 20); err == nil {
		t.Error("out-of-range index accepted")
	}
}
