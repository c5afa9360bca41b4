package references

import (
	"fmt"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// MethodDirectory is the method of a match made from an archive's
// directory alone: a member whose CRC-32 and size are a reference's.
const MethodDirectory = "zip-directory"

// Member is an archive member known from the archive's directory only.
type Member struct {
	Name  string
	CRC32 uint32
	Size  int64
}

// MemberMatch is a member whose CRC-32 and size are those of references.
type MemberMatch struct {
	Member
	Matches []fingerprints.Match
}

// MatchMembers matches members by CRC-32 and size — what a zip central
// directory records — against the index, so an archive too big to download
// can still be shown to hold the breach's documents. Members of size 0 are
// never matched (every empty file shares them).
func (s *Scanner) MatchMembers(members []Member) []MemberMatch {
	idx := s.snap.Load().idx
	var out []MemberMatch
	for _, m := range members {
		if m.Size <= 0 {
			continue
		}
		refs := idx.ByCRC(m.CRC32, m.Size)
		if len(refs) == 0 {
			continue
		}
		mm := MemberMatch{Member: m}
		for _, r := range refs {
			if r.Trivial {
				continue // an empty or trivial reference is no evidence, from a directory either
			}
			mm.Matches = append(mm.Matches, fingerprints.Match{RefKey: r.Key, RefID: r.ID, RefName: r.Name, Method: MethodDirectory,
				Score: 1, Why: fmt.Sprintf("member %s: CRC-32 %08x and size %d match the reference (from the archive's directory)", m.Name, m.CRC32, m.Size)})
		}
		if len(mm.Matches) > 0 {
			out = append(out, mm)
		}
	}
	return out
}
