package references

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/storage"
)

// HashStats summarise a hash-list import.
type HashStats struct {
	Lines, Added, Known, Skipped int
	// Trivial counts entries not imported because the file was empty or
	// under fingerprints.MinEvidenceBytes (hashdeep lists sizes): no
	// evidence, by the rule refs add applies.
	Trivial int
}

var (
	hexRe = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	// sha256sum/md5sum: "<hex>  name" or "<hex> *name" (binary mode).
	sumLine = regexp.MustCompile(`^\\?([0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64})\s[ *](.+)$`)
)

// ImportHashes reads a hash list — sha256sum/sha1sum/md5sum output, or
// hashdeep CSV (%%%% HASHDEEP header; columns size,md5,sha256,…,filename) —
// and records each entry as a reference matched by exact bytes only. It is
// for when only hashes of the stolen files are handed over.
func ImportHashes(ctx context.Context, store *storage.Store, r io.Reader) (HashStats, error) {
	var st HashStats
	br := bufio.NewReader(r)
	var columns []string // hashdeep columns, once seen
	var batch []storage.NewReference
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := store.SaveReferences(ctx, batch)
		batch = batch[:0]
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if line == "" && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return st, fmt.Errorf("read hash list: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		st.Lines++
		var ref storage.Reference
		switch {
		case strings.HasPrefix(line, "%%%%"):
			if rest, ok := strings.CutPrefix(line, "%%%% size,"); ok {
				columns = append([]string{"size"}, strings.Split(rest, ",")...)
			}
			st.Skipped++
			continue
		case strings.HasPrefix(line, "##"):
			st.Skipped++
			continue
		case columns != nil:
			rec, err := csv.NewReader(strings.NewReader(line)).Read()
			if err != nil || len(rec) != len(columns) {
				st.Skipped++
				continue
			}
			for i, c := range columns {
				v := rec[i]
				switch c {
				case "size":
					ref.Size, _ = strconv.ParseInt(v, 10, 64)
				case "md5":
					ref.MD5 = strings.ToLower(v)
				case "sha1":
					ref.SHA1 = strings.ToLower(v)
				case "sha256":
					ref.SHA256 = strings.ToLower(v)
				case "filename":
					ref.Name = v
				}
			}
		default:
			m := sumLine.FindStringSubmatch(line)
			if m == nil || !hexRe.MatchString(m[1]) {
				st.Skipped++
				continue
			}
			h := strings.ToLower(m[1])
			switch len(h) {
			case 32:
				ref.MD5 = h
			case 40:
				ref.SHA1 = h
			default:
				ref.SHA256 = h
			}
			ref.Name = m[2]
		}
		if ref.SHA256 == "" && ref.MD5 == "" && ref.SHA1 == "" {
			st.Skipped++
			continue
		}
		ref.Kind = "hash-list"
		if fingerprints.Trivial(storedContent(ref)) != "" {
			st.Trivial++
			continue
		}
		known, err := hashKnown(ctx, store, ref)
		if err != nil {
			return st, err
		}
		if known {
			st.Known++
			continue
		}
		batch = append(batch, storage.NewReference{Ref: ref, ParentIndex: -1})
		st.Added++
		if len(batch) >= 1000 {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	return st, flush()
}

func hashKnown(ctx context.Context, store *storage.Store, ref storage.Reference) (bool, error) {
	for _, c := range []struct{ col, val string }{{"sha256", ref.SHA256}, {"md5", ref.MD5}, {"sha1", ref.SHA1}} {
		if c.val == "" {
			continue
		}
		rs, err := store.ReferencesByDigest(ctx, c.col, c.val)
		if err != nil {
			return false, err
		}
		if len(rs) > 0 {
			return true, nil
		}
	}
	return false, nil
}
