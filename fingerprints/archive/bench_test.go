package archive

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkWalkZip walks a zip of 200 deflated text documents (~40 KiB each)
// plus a nested tar.gz; SetBytes counts the uncompressed bytes handed out.
func BenchmarkWalkZip(b *testing.B) {
	var files []file
	var size int64
	for i := range 200 {
		doc := []byte(strings.Repeat(fmt.Sprintf("patient %d: clinical note, lab results within range. ", i), 800))
		files = append(files, file{fmt.Sprintf("health-docs/%03d.txt", i), doc})
		size += int64(len(doc))
	}
	tarball := buildTar(b, files[:20]...)
	files = append(files, file{"nested/part.tar.gz", gz(b, tarball)})
	for _, f := range files[:20] {
		size += int64(len(f.data))
	}
	data := buildZip(b, files...)
	w := &Walker{}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st, err := w.Walk(context.Background(), "leak.zip", data, func(Member) error { return nil })
		if err != nil || st.Members != 220 {
			b.Fatalf("%v %+v", err, st)
		}
	}
}
