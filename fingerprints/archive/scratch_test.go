package archive

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/bodgit/sevenzip"
)

func TestScratch7z(t *testing.T) {
	hdr := []byte{0x01, 0x05, 0xF0, 0xFF, 0xFF, 0xFF, 0x7F, 0x00}
	var start [20]byte
	binary.LittleEndian.PutUint64(start[0:], 0)
	binary.LittleEndian.PutUint64(start[8:], uint64(len(hdr)))
	binary.LittleEndian.PutUint32(start[16:], crc32.ChecksumIEEE(hdr))
	var b bytes.Buffer
	b.Write([]byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0, 4})
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(start[:]))
	b.Write(start[:])
	b.Write(hdr)
	_, err := sevenzip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	t.Log(err)
}
